"""Typed configuration of the detector and its training, with named presets and TOML files.

``DetectorConfig(model=ModelConfig(...), train=TrainConfig(...))`` describes a whole run. Presets:

- ``"tiny"``: for two CPU cores: a small GroupNorm CNN with FPN (64 channels), 160 px images, a
  256-d 2fc+RM head (one relation module after each fc, ``N_r`` 16, ``d_k`` 16, ``d_g`` 32), 64
  sampled RoIs per image, 100 proposals at test time and the end-to-end learned remover with a
  small network (64-d embedding, ``N_r`` 8, ``d_k`` 16, ``d_g`` 32, the authors' ReLU before the
  classifier, each detection's overlap with those ranked above it as an input) over at most 100
  detections per class, trained by Adam with ``s0`` receiving the dedup loss's gradient (the
  recipe the detector README's remover study measured). (``d_g`` 32 instead of the paper's 64:
  the relation modules' cost on the CPU is mostly the ``N^2 d_g`` sines and cosines of the
  geometry embedding; see the detector README's speed table.)
- ``"r50-fpn"``: the paper's ResNet-50 + FPN setting (§5.1): 800 px shorter side, 512 RoIs,
  1024-d 2fc+RM head ``{1, 1}`` with ``N_r`` 16, ``d_k`` 64, ``d_g`` 64, end-to-end remover.

``load_config("tiny")`` or ``load_config("my.toml")``; ``save_config(config, "my.toml")``. A TOML
file lists only what differs from the ``"tiny"`` defaults or all fields; unknown keys, wrong types
and bad values raise ``ValueError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

from relnet_dedup import DedupConfig
from relnet_heads.config import HeadConfig, RelationConfig

BackboneName = Literal["tiny", "resnet18", "resnet34", "resnet50", "resnet101"]
RemoverMethod = Literal["nms", "soft-nms", "learned", "e2e", "oracle"]
REMOVER_METHODS: tuple[str, ...] = ("nms", "soft-nms", "learned", "e2e", "oracle")


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
            the end-to-end remover's network (:mod:`relnet_detector.optim`); its learning rate
            is ``lr * dedup_lr_factor`` either way. At ``tiny``'s 1,000 steps SGD leaves the
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
        return _to_plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorConfig:
        """Inverse of :meth:`to_dict`; missing keys take the ``tiny`` defaults, except that
        ``train.epochs`` without ``train.lr_steps`` moves ``tiny``'s steps with the epochs
        (:func:`with_epochs`).

        Raises:
            ValueError: an unknown key, a value of the wrong type or a bad value, naming the key.
        """
        config: DetectorConfig = _from_plain(cls(), data, "")
        train = data.get("train")
        if isinstance(train, Mapping) and "epochs" in train and "lr_steps" not in train:
            moved = with_epochs(cls(), config.train.epochs)
            config = dataclasses.replace(
                config, train=dataclasses.replace(config.train, lr_steps=moved.train.lr_steps)
            )
        return config


def _r50_fpn() -> DetectorConfig:
    relation = RelationConfig(num_relations=16, key_dim=64, geo_dim=64)
    model = ModelConfig(
        min_size=800,
        max_size=1333,
        backbone=BackboneConfig(name="resnet50", fpn_channels=256, weights="torchvision"),
        rpn=RPNConfig(
            anchor_sizes=(32, 64, 128, 256, 512),
            pre_nms_top_n_train=2000,
            pre_nms_top_n_test=1000,
            post_nms_top_n_train=2000,
            post_nms_top_n_test=1000,
            nms_thresh=0.7,
            batch_size_per_image=256,
        ),
        roi=RoIConfig(batch_size_per_image=512),
        head=HeadConfig(
            kind="2fc+rm", hidden_dim=1024, fc1_relations=(relation,), fc2_relations=(relation,)
        ),
        remover=RemoverConfig(),  # the paper's: first_n 100, the §4.3 network
    )
    train = TrainConfig(
        epochs=26,
        batch_size=2,
        lr=0.02,
        warmup_iters=1000,
        lr_steps=(16, 22),
        workers=4,
        dedup_lr_factor=1.0,
        dedup_optimizer="sgd",
    )
    return DetectorConfig(model=model, train=train)


PRESETS: dict[str, typing.Callable[[], DetectorConfig]] = {
    "tiny": DetectorConfig,
    "r50-fpn": _r50_fpn,
}


def with_epochs(
    config: DetectorConfig, epochs: int, lr_steps: Sequence[int] | None = None
) -> DetectorConfig:
    """``config`` trained for ``epochs``, its schedule following: the given ``lr_steps``, or the
    config's own moved to the new length at the same fractions of the run
    (:func:`relnet_detector.schedule.scale_lr_steps`: ``tiny``'s step after epoch 3 of 4 becomes
    a step after epoch 9 of 12). ``train`` checks the result (a step at or after the last epoch
    is an error)."""
    from .schedule import scale_lr_steps

    tc = config.train
    steps = scale_lr_steps(tc.lr_steps, tc.epochs, epochs) if lr_steps is None else tuple(lr_steps)
    return dataclasses.replace(config, train=dataclasses.replace(tc, epochs=epochs, lr_steps=steps))


def load_config(name_or_path: str | os.PathLike[str]) -> DetectorConfig:
    """A named preset (``"tiny"``, ``"r50-fpn"``) or a TOML file written by :func:`save_config`.

    Raises:
        ValueError: an unknown preset name, a file that is not TOML, or a bad key or value
            (the message names the file and the key).
        FileNotFoundError: a path that does not exist.
    """
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        return PRESETS[name_or_path]()
    path = Path(name_or_path)
    if path.suffix != ".toml":
        raise ValueError(
            f"unknown preset {str(name_or_path)!r}: expected one of {sorted(PRESETS)} "
            "or a .toml file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return DetectorConfig.from_dict(data)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"config {path}: {err}") from err


def save_config(config: DetectorConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as TOML (every field; None values are left out)."""
    path = Path(path)
    text = tomli_w.dumps(_drop_none(config.to_dict()))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None
    }


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(base: Any, data: Any, where: str) -> Any:
    """``base`` (a dataclass instance) with the fields in plain ``data`` replaced, checking keys
    and types; a nested table overrides the fields of ``base``'s value, so a key left out keeps
    the preset's value, not the nested class's default."""
    if not isinstance(data, Mapping):
        name = where.rstrip(".") or "config"
        raise ValueError(f"{name} must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(type(base))
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(where + k for k in unknown)}")
    values = {k: _convert(hints[k], v, f"{where}{k}", getattr(base, k)) for k, v in data.items()}
    try:
        return dataclasses.replace(base, **values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where.rstrip('.') or 'config'}: {err}") from err


def _convert(hint: Any, value: Any, key: str, base: Any = None) -> Any:
    """``value`` checked against type ``hint``; a dataclass table overrides ``base``'s fields."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        cls = typing.cast(type, hint)
        fresh = base if isinstance(base, cls) else cls()
        return _from_plain(fresh, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{key} must have {len(args)} entries, got {len(value)}")
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # a bug of ours, not the user's
