"""Validation shared by the public functions: a ``ValueError`` naming the argument and the value.

Every public function of this package checks its inputs here first, so that bad input fails with
one clear message at the boundary and never deep inside torch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from relnet_geometry import check_boxes


def check_detections(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor | None = None,
    *,
    prefix: str = "",
    idxs_name: str = "idxs",
) -> None:
    """Raise ``ValueError`` unless boxes ``[N, 4]``, scores ``[N]`` and idxs ``[N]`` agree.

    Boxes and scores must be finite floating tensors on one device; idxs (group ids) an integer
    tensor. ``prefix`` is put in front of the argument names (``"gt_"`` names ``gt_boxes``);
    ``idxs_name`` is what the caller calls its group ids.
    """
    name_b, name_s, name_i = f"{prefix}boxes", f"{prefix}scores", prefix + idxs_name
    check_box_matrix(name_b, boxes)
    check_finite_vector(name_s, scores, boxes, name_b)
    if idxs is not None:
        check_group_ids(name_i, idxs, boxes, name_b)


def check_box_matrix(name: str, boxes: Tensor) -> None:
    """Raise ``ValueError`` unless ``boxes`` is a finite floating tensor of shape ``[N, 4]``."""
    if not isinstance(boxes, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [N, 4], got {tuple(boxes.shape)}")
    check_boxes(name, boxes)


def check_finite_vector(
    name: str, values: Tensor, boxes: Tensor, boxes_name: str = "boxes"
) -> None:
    """Raise ``ValueError`` unless ``values`` is a finite floating ``[N]`` tensor matching boxes."""
    _check_vector(name, values, boxes, boxes_name)
    if not values.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {values.dtype}")
    finite = torch.isfinite(values)  # [N]
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name} holds NaN or inf, first at index {first}: {values[first].item()}")


def check_group_ids(name: str, idxs: Tensor, boxes: Tensor, boxes_name: str = "boxes") -> None:
    """Raise ``ValueError`` unless ``idxs`` is an integer ``[N]`` tensor matching boxes."""
    _check_vector(name, idxs, boxes, boxes_name)
    if idxs.is_floating_point() or idxs.is_complex() or idxs.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of group ids, got dtype {idxs.dtype}")


def check_threshold(name: str, value: float, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``low <= value <= high`` (NaN fails)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    if not low <= value <= high:  # False for NaN
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")


def _check_vector(name: str, values: Tensor, boxes: Tensor, boxes_name: str) -> None:
    if not isinstance(values, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if values.dim() != 1 or values.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"{name} must have shape [N] to match {boxes_name} {tuple(boxes.shape)}, "
            f"got {tuple(values.shape)}"
        )
    if values.device != boxes.device:
        raise ValueError(f"{name} is on {values.device} but {boxes_name} on {boxes.device}")
