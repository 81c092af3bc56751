"""Greedy non-maximum suppression, the baseline that §4.3 replaces, with torchvision's semantics.

``torchvision.ops.nms`` / ``batched_nms`` run when torchvision is importable; otherwise a pure torch
version does the same on every group at once: the pairwise IoU of each group, then the greedy
selection solved as the fixed point of "a box is kept unless a kept box of higher score overlaps
it by more than the threshold" (one vectorised step per iteration, exact at convergence).

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``w = x2 - x1``).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

import torch
from torch import Tensor

from relnet_geometry import box_iou

from ._checks import check_detections, check_threshold
from ._groups import padded_groups


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS: drop every box that overlaps a kept box of higher score by IoU ``> threshold``.

    Args:
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their scores, floating, finite.
        iou_threshold (float): boxes with IoU ``> iou_threshold`` are suppressed, in ``[0, 1]``.

    Returns:
        Tensor[K] int64: indices of the kept boxes in decreasing order of score.

    Example:
        >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [20.0, 0, 30, 9]])
        >>> nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
        tensor([0, 2])
    """
    check_detections(boxes, scores)
    iou_threshold = check_threshold("iou_threshold", iou_threshold, 0.0, 1.0)
    ops = _torchvision_ops()
    if ops is not None:
        boxes, scores = _for_torchvision(boxes, scores)
        return ops.nms(boxes, scores, float(iou_threshold))  # type: ignore[no-any-return]
    return _batched_nms_torch(
        boxes, scores, torch.zeros_like(scores, dtype=torch.long), iou_threshold
    )


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS within each group independently (a group: one class, or one image and class).

    Args:
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their scores, floating, finite.
        idxs (Tensor[N]): integer group id of each box; boxes of different groups never suppress
            each other.
        iou_threshold (float): boxes with IoU ``> iou_threshold`` are suppressed, in ``[0, 1]``.

    Returns:
        Tensor[K] int64: indices of the kept boxes in decreasing order of score.
    """
    check_detections(boxes, scores, idxs)
    iou_threshold = check_threshold("iou_threshold", iou_threshold, 0.0, 1.0)
    ops = _torchvision_ops()
    if ops is not None:
        boxes, scores = _for_torchvision(boxes, scores)
        return ops.batched_nms(boxes, scores, idxs, float(iou_threshold))  # type: ignore[no-any-return]
    return _batched_nms_torch(boxes, scores, idxs, iou_threshold)


def _batched_nms_torch(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """The pure torch path; equal scores keep the lower index first."""
    dtype = torch.promote_types(boxes.dtype, torch.float32)  # half types: IoU in float32
    by_score = torch.sort(scores, descending=True, stable=True).indices  # [N]
    kept = [by_score[:0]]
    for index, valid in padded_groups(idxs, by_score):  # [C, M] rows in decreasing score order
        group_boxes = boxes[index].to(dtype)  # [C, M, 4]
        m = index.shape[1]
        later = torch.ones(m, m, dtype=torch.bool, device=boxes.device).triu(1)  # [M, M]: j > i
        # overlaps[c, i, j]: box i (higher score) suppresses box j if i is kept
        overlaps = (box_iou(group_boxes, group_boxes) > iou_threshold) & later  # [C, M, M]
        keep = valid
        while True:
            suppressed = (overlaps & keep[:, :, None]).any(dim=1)  # [C, M]
            update = valid & ~suppressed
            if torch.equal(update, keep):
                break
            keep = update
        kept.append(index[keep])
    keep_all = torch.cat(kept)  # [K]
    # kept boxes in decreasing score order, equal scores by lower index
    keep_all = keep_all.sort().values
    return keep_all[torch.sort(scores[keep_all], descending=True, stable=True).indices]


def _for_torchvision(boxes: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    """torchvision's kernels take float32 or float64 (half types are computed in float32)."""
    dtype = torch.promote_types(torch.promote_types(boxes.dtype, scores.dtype), torch.float32)
    return boxes.to(dtype), scores.to(dtype)


@functools.cache
def _torchvision_ops() -> ModuleType | None:
    """``torchvision.ops`` if torchvision imports and its compiled NMS works, else None."""
    try:
        ops = importlib.import_module("torchvision.ops")
        ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
    except Exception:  # a missing or broken install (e.g. built for another torch) is not used
        return None
    return ops
