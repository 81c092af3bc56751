"""The relation detector: torchvision's Faster R-CNN + FPN with a relation head (paper §4.2) and a
learned or classic duplicate remover (§4.3), trained end to end (§4.4).

``build_detector(config, num_classes)`` composes torchvision's parts (``AnchorGenerator``, RPN,
``MultiScaleRoIAlign``, ``GeneralizedRCNNTransform``, ``FastRCNNPredictor``) with a relnet head and
:class:`relnet_detector.modeling.roi_heads.RelationRoIHeads`. torchvision's contract holds: training
``model(images, targets)`` returns a dict of ``loss_*`` tensors, eval a list of dicts with
``boxes`` (original image pixels), ``labels`` (1 .. num_classes) and ``scores``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from torch import Tensor
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import MultiScaleRoIAlign

from relnet_core.checks import check_int
from relnet_dedup import DuplicateRemovalNetwork
from relnet_heads import BoxHead, build_head

from ..config import ModelConfig, RemoverConfig
from .backbone import build_backbone, num_feature_levels
from .checks import check_images, check_model_config, load_learned
from .predictor import build_predictor
from .removers import RawDetections, check_remover, remove_duplicates_batch
from .roi_heads import RelationRoIHeads
from .transform import RelationTransform

__all__ = ["FEATMAP_NAMES", "RelationDetector", "build_detector", "check_images"]

FEATMAP_NAMES = ["0", "1", "2", "3"]  # the FPN levels RoIs are pooled from (not "pool")


class RelationDetector(FasterRCNN):  # type: ignore[misc]
    """Faster R-CNN with a relnet box head and duplicate remover.

    Build it with :func:`build_detector`. Beyond torchvision's ``FasterRCNN``:

    - :meth:`raw_detections` runs the network once per image and returns every class-specific
      box before duplicate removal;
      :func:`relnet_detector.modeling.removers.remove_duplicates` applies any remover to it.
      Eval-mode ``forward`` is exactly those two steps with the model's remover.
    - :meth:`set_remover` switches the remover of a trained model (``"learned"`` loads its
      checkpoint; ``"e2e"`` needs the model's own trained end-to-end network).

    Args:
        config (ModelConfig): the model's configuration.
        num_classes (int): object classes without the background; labels are ``1 ..
            num_classes`` (0 = background), as in torchvision.

    Attributes:
        config (ModelConfig): the configuration; ``config.remover`` follows :meth:`set_remover`.
        num_classes (int): object classes without the background.
        box_head (BoxHead): the head (``roi_heads.box_head``).

    Example:
        >>> model = build_detector(ModelConfig(), num_classes=3).eval()
        >>> out = model([torch.rand(3, 120, 160)])
        >>> sorted(out[0])
        ['boxes', 'labels', 'scores']
    """

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        check_int("num_classes", num_classes, low=1)
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
        check_model_config(config)
        rpn, roi = config.rpn, config.roi
        backbone = build_backbone(config.backbone)
        levels = num_feature_levels(config.backbone)
        if len(rpn.anchor_sizes) != levels:
            raise ValueError(
                "rpn.anchor_sizes must hold one size per feature level: the "
                f"{config.backbone.name} backbone has {levels}, got {len(rpn.anchor_sizes)} "
                f"({list(rpn.anchor_sizes)})"
            )
        anchors = AnchorGenerator(
            sizes=tuple((s,) for s in rpn.anchor_sizes),
            aspect_ratios=(tuple(rpn.aspect_ratios),) * levels,
        )
        pool = MultiScaleRoIAlign(FEATMAP_NAMES, roi.pool_size, roi.sampling_ratio)
        head = build_head(config.head, cast(int, backbone.out_channels), roi.pool_size)
        predictor = build_predictor(head, num_classes + 1)
        # FasterRCNN.__init__'s composition with our RoI heads in place of torchvision's (which it
        # would build only to be replaced): the RPN head initialises after the box head and the
        # predictor and before the remover's network, as it always has (same RNG draws).
        rpn_head = RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0])
        proposals = RegionProposalNetwork(
            anchors,
            rpn_head,
            rpn.fg_iou_thresh,
            rpn.bg_iou_thresh,
            rpn.batch_size_per_image,
            rpn.positive_fraction,
            {"training": rpn.pre_nms_top_n_train, "testing": rpn.pre_nms_top_n_test},
            {"training": rpn.post_nms_top_n_train, "testing": rpn.post_nms_top_n_test},
            rpn.nms_thresh,
            score_thresh=0.0,
        )
        remover = config.remover
        learned = load_learned(remover, head.out_dim) if remover.method == "learned" else None
        dedup = None
        if remover.method == "e2e":
            dedup = DuplicateRemovalNetwork(
                dataclasses.replace(remover.dedup, feat_dim=head.out_dim)
            )
        roi_heads = RelationRoIHeads(
            pool,
            head,
            predictor,
            remover=remover,
            dedup=dedup,
            dedup_proposals=rpn.post_nms_top_n_test,
            fg_iou_thresh=roi.fg_iou_thresh,
            bg_iou_thresh=roi.bg_iou_thresh,
            batch_size_per_image=roi.batch_size_per_image,
            positive_fraction=roi.positive_fraction,
            bbox_reg_weights=tuple(roi.reg_weights),
        )
        transform = RelationTransform(
            config.min_size, config.max_size, list(config.image_mean), list(config.image_std)
        )
        GeneralizedRCNN.__init__(self, backbone, proposals, roi_heads, transform)
        if learned is not None:
            self.roi_heads.set_remover(remover, learned)
        self.config = config
        self.num_classes = num_classes

    @property
    def box_head(self) -> BoxHead:
        """The relnet box head."""
        head: BoxHead = self.roi_heads.box_head
        return head

    @property
    def remover(self) -> RemoverConfig:
        """The duplicate remover of eval mode."""
        remover: RemoverConfig = self.roi_heads.remover
        return remover

    @property
    def dedup_network(self) -> DuplicateRemovalNetwork | None:
        """The network of the current remover (``"learned"``: its checkpoint's; ``"e2e"``: the
        model's own), None for NMS and Soft-NMS."""
        network: DuplicateRemovalNetwork | None = self.roi_heads.remover_network
        return network

    def set_remover(self, remover: RemoverConfig) -> None:
        """Use ``remover`` in eval mode from now on, without retraining.

        ``"learned"`` loads ``remover.checkpoint`` (a relnet-dedup checkpoint) onto the model's
        device; ``"e2e"`` uses the model's own end-to-end network, which must exist and have
        been trained. ``config.remover`` follows.

        Raises:
            ValueError: see :meth:`remover_network`.
            FileNotFoundError: no checkpoint file at ``remover.checkpoint``.
        """
        network = self.remover_network(remover)
        self.roi_heads.set_remover(remover, network if remover.method == "learned" else None)
        self.config = dataclasses.replace(self.config, remover=remover)

    def remover_network(self, remover: RemoverConfig) -> DuplicateRemovalNetwork | None:
        """The network ``remover`` runs on this model, checked: ``"learned"``: its checkpoint's,
        loaded onto the model's device in eval mode; ``"e2e"``: the model's own; else None.

        Raises:
            ValueError: a bad setting; ``"learned"`` without a checkpoint, a corrupt one, or one
                whose network expects another feature size than the head's ``out_dim``; ``"e2e"``
                on a model built without it or never trained with it.
            FileNotFoundError: no checkpoint file at ``remover.checkpoint``.
        """
        check_remover(remover)
        if remover.method == "learned":
            return load_learned(remover, self.box_head.out_dim, next(self.parameters()).device)
        if remover.method != "e2e":
            return None
        dedup: DuplicateRemovalNetwork | None = self.roi_heads.dedup
        if dedup is None:
            raise ValueError(
                "remover 'e2e' needs the model's own end-to-end duplicate removal network, "
                f"but this model was built with remover {self.config.remover.method!r}; "
                "use 'learned' with a separately trained checkpoint, or train with 'e2e'"
            )
        if int(self.roi_heads.dedup_steps) == 0:
            raise ValueError(
                "remover 'e2e': the model's end-to-end network was never trained "
                "(roi_heads.dedup_steps is 0); train the detector or load trained weights"
            )
        return dedup

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        """torchvision's ``GeneralizedRCNN.forward``.

        Args:
            images (list[Tensor[3, H_i, W_i]]): float images in ``[0, 1]``.
            targets (list[dict[str, Tensor]], optional): in training, each image's ``boxes``
                [G_i, 4] ``(x1, y1, x2, y2)`` pixels and ``labels`` [G_i] int64 in ``1 ..
                num_classes``.

        Returns:
            In training, dict[str, Tensor]: ``loss_objectness``, ``loss_rpn_box_reg``,
            ``loss_classifier``, ``loss_box_reg`` (+ ``loss_dedup`` with ``"e2e"``). In eval,
            list[dict[str, Tensor]]: ``boxes`` [K, 4] in original image pixels, ``labels`` [K],
            ``scores`` [K], ``K <= remover.detections_per_img``: exactly
            ``remove_duplicates_batch(raws, self.remover, self.dedup_network)`` of
            :meth:`raw_detections` (per image, :func:`remove_duplicates` up to float rounding:
            every (image, class) is its own group).
        """
        if self.training:
            return super().forward(images, targets)
        raws = self.raw_detections(images)
        return remove_duplicates_batch(raws, self.remover, self.dedup_network)

    def raw_detections(
        self, images: list[Tensor], *, score_threshold: float | None = None
    ) -> list[RawDetections]:
        """The network's output before duplicate removal (eval mode only).

        Args:
            images (list[Tensor[3, H_i, W_i]]): float images in ``[0, 1]``.
            score_threshold (float, optional): keep ``s0 > score_threshold``; the remover's
                ``score_threshold`` if None (the evaluation passes the lowest of its removers').

        Returns:
            list[RawDetections]: per image every class-specific box of every RoI above the
            threshold, in original image pixels, with its score, label and RoI's head feature.

        Raises:
            ValueError: the model is in training mode, or ``images`` is not a list of
                ``[3, H, W]`` floating tensors.
        """
        if self.training:
            raise ValueError("raw_detections needs eval mode: call model.eval() first")
        check_images(images)
        # the shapes themselves, not int(): a trace (export) follows them
        original_sizes = [(img.shape[-2], img.shape[-1]) for img in images]
        batch, _ = self.transform(images)
        features = self.backbone(batch.tensors)
        proposals, _ = self.rpn(batch, features)
        raws: list[RawDetections] = self.roi_heads.raw_detections(
            features, proposals, batch.image_sizes, score_threshold
        )
        for raw, size, original in zip(raws, batch.image_sizes, original_sizes, strict=True):
            raw.boxes = resize_boxes(raw.boxes, size, original)
        return raws


def build_detector(config: ModelConfig, num_classes: int) -> RelationDetector:
    """The detector ``config`` describes, for ``num_classes`` object classes.

    Args:
        config (ModelConfig): backbone, RPN, RoI sampling, head and remover.
        num_classes (int): object classes WITHOUT the background (labels ``1 .. num_classes``).

    Returns:
        RelationDetector: in training mode, on the CPU.

    Raises:
        ValueError: a bad configuration value (named), backbone weights not on disk, or a
            ``"learned"`` remover whose checkpoint is missing or does not fit the head.
    """
    return RelationDetector(config, num_classes)
