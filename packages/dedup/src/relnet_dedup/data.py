"""Per-image detections and ground truth: the unit of training data for :func:`relnet_dedup.fit`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from relnet_core.checks import check_int

from ._checks import check_box_matrix, check_finite_vector, check_group_ids, check_rows


@dataclass(frozen=True)
class ImageDetections:
    """Raw (pre-NMS) detections of one image and, for training, its ground truth.

    Attributes:
        boxes (Tensor[N, 4]): class-specific boxes ``(x1, y1, x2, y2)`` in pixels.
        scores (Tensor[N]): classification scores ``s0``.
        labels (Tensor[N], int): class of each detection.
        gt_boxes (Tensor[G, 4]): ground-truth boxes ``(x1, y1, x2, y2)``.
        gt_labels (Tensor[G], int): their classes.
        features (Tensor[N, D], optional): appearance features of the detections, finite.
        image_id (int): an identifier (the COCO image id), unused by training.

    Raises:
        ValueError: a tensor of another shape, dtype or device, or holding NaN or inf; the
            message names the attribute.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    gt_boxes: Tensor
    gt_labels: Tensor
    features: Tensor | None = None
    image_id: int = 0

    def __post_init__(self) -> None:
        check_box_matrix("boxes", self.boxes)
        check_finite_vector("scores", self.scores, self.boxes)
        check_group_ids("labels", self.labels, self.boxes)
        check_box_matrix("gt_boxes", self.gt_boxes)
        check_group_ids("gt_labels", self.gt_labels, self.gt_boxes, "gt_boxes")
        if self.features is not None:
            check_rows("features", self.features, self.boxes)
        object.__setattr__(self, "image_id", check_int("image_id", self.image_id))

    @classmethod
    def coerce(cls, item: ImageDetections | Mapping[str, object]) -> ImageDetections:
        """An instance as is, or one from a mapping of the same keys (``features`` optional)."""
        if isinstance(item, ImageDetections):
            return item
        if not isinstance(item, Mapping):
            raise ValueError(
                f"an image must be ImageDetections or a dict, got {type(item).__name__}"
            )
        names = {f.name for f in fields(cls)}
        missing = sorted({"boxes", "scores", "labels", "gt_boxes", "gt_labels"} - set(item))
        if missing:
            raise ValueError(f"image dict is missing keys {missing}")
        return cls(**{k: v for k, v in item.items() if k in names})  # type: ignore[arg-type]

    def to(self, device: torch.device | str) -> ImageDetections:
        """The same image with every tensor on ``device``."""
        feats = None if self.features is None else self.features.to(device)
        return ImageDetections(
            self.boxes.to(device),
            self.scores.to(device),
            self.labels.to(device),
            self.gt_boxes.to(device),
            self.gt_labels.to(device),
            feats,
            self.image_id,
        )
