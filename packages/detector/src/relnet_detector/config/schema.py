"""The configuration dataclasses of a run: backbone, RPN, RoI sampling, head, remover, training.

``DetectorConfig(model=ModelConfig(...), train=TrainConfig(...))`` describes a whole run; every
default is the ``"tiny"`` preset's (:mod:`relnet_detector.config.presets`). ``to_dict`` /
``from_dict`` convert to and from plain types (TOML files, checkpoints), checking every key.
Departures from the paper's settings are the ``tiny`` defaults, described in the presets module.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from relnet_dedup import DedupConfig
from relnet_heads.config import HeadConfig, RelationConfig

from ._plain import from_plain, to_plain
from .schedule import with_epochs

__all__ = [
    "BACKBONE_NAMES",
    "REMOVER_METHODS",
    "BackboneConfig",
    "BackboneName",
    "DetectorConfig",
    "ModelConfig",
    "RPNConfig",
    "RemoverConfig",
    "RemoverMethod",
    "RoIConfig",
    "TrainConfig",
]

BackboneName = Literal["tiny", "resnet18", "resnet34", "resnet50", "resnet101"]
BACKBONE_NAMES: tuple[str, ...] = typing.get_args(BackboneName)
"""Every ``BackboneConfig.name``: ``"tiny"`` and the torchvision ResNets."""
RemoverMethod = Literal["nms", "soft-nms", "learned", "e2e", "oracle"]
REMOVER_METHODS: tuple[str, ...] = typing.get_args(RemoverMethod)
"""Every ``RemoverConfig.method``, in the order of the paper's comparison."""


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone with FPN.

    Attributes:
        name: ``"tiny"`` (a small GroupNorm CNN for CPUs) or a torchvision ResNet.
        fpn_channels: channels of every FPN level.
        tiny_channels: the tiny CNN's four stage widths (strides 4, 8, 16, 32).
        weights: ImageNet weights of a ResNet: a path to a state dict, ``"torchvision"`` for
            torchvision's own weights from its local cache (never downloaded), or ``""`` for none.
        trainable_layers: ResNet stages that train (0-5), as torchvision's ``trainable_layers``.
    """

    name: BackboneName = "tiny"
    fpn_channels: int = 64
    tiny_channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    weights: str = ""
    trainable_layers: int = 3


@dataclass(frozen=True)
class RPNConfig:
    """Region proposal network (torchvision's ``rpn_*`` arguments); one anchor size per level."""

    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    pre_nms_top_n_train: int = 600
    pre_nms_top_n_test: int = 300
    post_nms_top_n_train: int = 300
    post_nms_top_n_test: int = 100
    nms_thresh: float = 0.8
    fg_iou_thresh: float = 0.7
    bg_iou_thresh: float = 0.3
    batch_size_per_image: int = 128
    positive_fraction: float = 0.5


@dataclass(frozen=True)
class RoIConfig:
    """RoI sampling and pooling (torchvision's ``box_*`` arguments)."""

    pool_size: int = 7
    sampling_ratio: int = 2
    batch_size_per_image: int = 64
    positive_fraction: float = 0.25
    fg_iou_thresh: float = 0.5
    bg_iou_thresh: float = 0.5
    reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True)
class RemoverConfig:
    """The duplicate remover applied to the head's per-class boxes (paper §4.3, §4.4).

    Attributes:
        method: ``"nms"``, ``"soft-nms"``, ``"learned"`` (a separately trained relnet-dedup
            network loaded from ``checkpoint``), ``"e2e"`` (trained with the detector, §4.4) or
            ``"oracle"`` (knows the ground truth: the ceiling of a remover, in evaluation only).
        score_threshold: detections with a lower ``s0`` are dropped before removal (torchvision's
            ``box_score_thresh`` 0.05 for NMS; the paper's 0.01 for the learned remover).
        nms_threshold: IoU threshold of NMS.
        soft_nms_sigma: Gaussian Soft-NMS sigma.
        detections_per_img: detections kept per image after removal, highest final score first.
        first_n: the learned remover sees at most this many detections per class, in training
            (end to end) and inference (paper: 100).
        eta: the learned remover's IoU threshold to score with; None averages all (the paper's).
        checkpoint: the relnet-dedup checkpoint of ``"learned"``.
        dedup: the network of ``"learned"`` / ``"e2e"``; its ``feat_dim`` is set to the head's.
        e2e_detach_scores: in end-to-end training, ``s0`` in ``loss_dedup`` is detached; False
            lets the loss reach the classifier through ``s0`` (the authors' code).
        e2e_backbone_gradient: in end-to-end training, ``loss_dedup`` reaches the backbone
            through the pooled features of its pass (the authors' code); False stops it there.
    """

    method: RemoverMethod = "e2e"
    score_threshold: float = 0.01
    nms_threshold: float = 0.5
    soft_nms_sigma: float = 0.5
    detections_per_img: int = 100
    first_n: int = 100
    eta: float | None = None
    checkpoint: str = ""
    dedup: DedupConfig = field(default_factory=DedupConfig)
    e2e_detach_scores: bool = True
    e2e_backbone_gradient: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """The whole detector: input size, backbone, RPN, RoI sampling, head and remover."""

    min_size: int = 160
    max_size: int = 160
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi: RoIConfig = field(default_factory=RoIConfig)
    head: HeadConfig = field(
        default_factory=lambda: HeadConfig(
            kind="2fc+rm",
            hidden_dim=256,
            fc1_relations=(RelationConfig(num_relations=16, key_dim=16, geo_dim=32),),
            fc2_relations=(RelationConfig(num_relations=16, key_dim=16, geo_dim=32),),
        )
    )
    remover: RemoverConfig = field(
        default_factory=lambda: RemoverConfig(
            first_n=100,
            dedup=DedupConfig(
                embed_dim=64,
                num_relations=8,
                key_dim=16,
                geo_dim=32,
                head="relu",
                overlap_feature=True,
            ),
            e2e_detach_scores=False,
        )
    )


@dataclass(frozen=True)
class TrainConfig:
    """SGD with linear warm-up and step decay, as torchvision's detection references.

    Attributes:
        epochs: passes over the training set.
        batch_size: images per process and step (the global batch is ``batch_size * world``).
        lr: learning rate of the global batch after warm-up.
        momentum, weight_decay: SGD's.
        warmup_iters: steps of linear warm-up from ``warmup_factor * lr``.
        lr_steps: epochs after which the learning rate is multiplied by ``lr_gamma``, each in
            ``1 .. epochs - 1``; stated for this ``epochs`` (:func:`with_epochs` moves them with
            another length).
        clip_grad_norm: maximum gradient norm; 0 turns clipping off.
        amp: automatic mixed precision (CUDA only; ignored on the CPU).
        hflip: probability of a horizontal flip of a training image.
        seed: seeds initialisation, data order, augmentation and RoI sampling.
        workers: data loader worker processes per training process.
        checkpoint_every: steps between checkpoints (and at every epoch end); 0: epoch ends only.
        log_every: steps between metrics-log lines.
        dedup_lr_factor: the end-to-end remover's network learns at ``lr`` times this (its own
            parameter group, same warm-up and decay): 0.15 in ``tiny``, Adam at 3e-3 (the
            separate fit's); the r50-fpn preset keeps SGD at the detector's lr (factor 1).
        dedup_optimizer: ``"sgd"`` (the detector's, momentum and weight decay) or ``"adam"`` for
            the end-to-end remover's network (:mod:`relnet_detector.engine.optim`); its learning
            rate is ``lr * dedup_lr_factor`` either way. At ``tiny``'s 1,000 steps SGD leaves the
            network far from converged (the detector README's end-to-end study).
        val_images: at each epoch end, the COCO mAP of the training remover on this many first
            images of the ``val`` split (when the data folder has one) goes into the epoch's
            metrics record and the curves; 0 turns it off.
    """

    epochs: int = 4
    batch_size: int = 8
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 100
    warmup_factor: float = 0.001
    lr_steps: tuple[int, ...] = (3,)
    lr_gamma: float = 0.1
    clip_grad_norm: float = 10.0
    amp: bool = True
    hflip: float = 0.5
    seed: int = 0
    workers: int = 1
    checkpoint_every: int = 200
    log_every: int = 10
    dedup_lr_factor: float = 0.15
    dedup_optimizer: Literal["sgd", "adam"] = "adam"
    val_images: int = 100


@dataclass(frozen=True)
class DetectorConfig:
    """A run: the model and its training."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (tuples become lists), for TOML and checkpoints."""
        return to_plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorConfig:
        """Inverse of :meth:`to_dict`; missing keys take the ``tiny`` defaults, except that
        ``train.epochs`` without ``train.lr_steps`` moves ``tiny``'s steps with the epochs
        (:func:`with_epochs`).

        Raises:
            ValueError: an unknown key, a value of the wrong type or a bad value, naming the key.
        """
        config: DetectorConfig = from_plain(cls(), data, "")
        train = data.get("train")
        if isinstance(train, Mapping) and "epochs" in train and "lr_steps" not in train:
            moved = with_epochs(cls(), config.train.epochs)
            config = dataclasses.replace(
                config, train=dataclasses.replace(config.train, lr_steps=moved.train.lr_steps)
            )
        return config
