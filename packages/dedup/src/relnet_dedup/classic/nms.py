"""Greedy non-maximum suppression, the baseline that §4.3 replaces, with torchvision's semantics.

When torchvision is importable its compiled ``nms`` kernel runs, on float64 boxes and with the
scores replaced by their rank (equal scores: the lower index first), so ties are deterministic.
``batched_nms`` then separates the groups as torchvision's ``batched_nms`` does, by shifting each
group's boxes far from the others, but exactly: the group ids are first mapped to ``0 .. G-1``
(``torch.unique``), the shift is a multiple of a power of two larger than twice the largest
coordinate, and the shifted float64 coordinates are checked to be exact (when they are not, for
extreme coordinates, each group runs alone). Every IoU is then bit-for-bit the one of the group's
own boxes, so the result equals one ``nms`` call per group for any group ids, where torchvision's
float32 offsets change the kept set once the ids reach about 10,000 (issue 10, defect 3).

Without torchvision a pure torch version does the same on every group at once: the pairwise IoU of
each group, then the greedy selection solved as the fixed point of "a box is kept unless a kept
box of higher score overlaps it by more than the threshold" (one vectorised step per iteration,
exact at convergence). The two paths agree except when an IoU lies within float32 rounding of the
threshold, or for boxes with ``x2 < x1`` (whose area torchvision's kernel does not clamp to 0).

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``w = x2 - x1``).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor

from relnet_geometry import box_iou

from .._checks import check_detections, check_threshold
from ..grouping import padded_groups


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
        boxes64, ranks = _kernel_inputs(boxes, scores)
        return ops.nms(boxes64, ranks, iou_threshold)  # type: ignore[no-any-return]
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
        return batched_nms_separated(boxes, scores, idxs, iou_threshold, ops.nms)
    return _batched_nms_torch(boxes, scores, idxs, iou_threshold)


Kernel = Callable[[Tensor, Tensor, float], Tensor]


def batched_nms_separated(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, kernel: Kernel
) -> Tensor:
    """:func:`batched_nms` through one single-group NMS ``kernel`` call on separated groups.

    Args:
        boxes (Tensor[N, 4]), scores (Tensor[N]), idxs (Tensor[N]): as for :func:`batched_nms`.
        iou_threshold (float): as for :func:`batched_nms`.
        kernel (callable): ``(boxes[K, 4] float64, scores[K] float64, threshold) -> keep[K']``,
            greedy NMS of one group, such as ``torchvision.ops.nms``.

    Returns:
        Tensor[K] int64: what one ``kernel`` call per group keeps, in decreasing order of score
        (equal scores: lower index first), whatever the values of the group ids.
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    boxes64, ranks = _kernel_inputs(boxes, scores)
    dense = torch.unique(idxs, return_inverse=True)[1]  # [N], group ids mapped to 0 .. G-1
    shifted = _separate_groups(boxes64, dense)  # [N, 4] or None
    if shifted is not None:
        keep = kernel(shifted, ranks, iou_threshold)  # [K], by rank
    else:  # coordinates too extreme to shift exactly: one kernel call per group
        order = torch.sort(dense, stable=True).indices  # [N] group-major
        counts = torch.bincount(dense).tolist()  # [G]
        kept = [m[kernel(boxes64[m], ranks[m], iou_threshold)] for m in torch.split(order, counts)]
        keep = torch.cat(kept)  # [K]
    return keep[torch.sort(ranks[keep], descending=True).indices]  # [K], by rank


def _kernel_inputs(boxes: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    """Boxes in float64 (exact for every float input) and, as scores, ``N - rank`` in float64:
    the order of decreasing score with equal scores by lower index, and no ties left."""
    n = scores.shape[0]
    order = torch.sort(scores, descending=True, stable=True).indices  # [N]
    ranks = torch.empty(n, dtype=torch.float64, device=scores.device)
    ranks[order] = torch.arange(n, 0, -1, dtype=torch.float64, device=scores.device)  # [N]
    return boxes.to(torch.float64), ranks


def _separate_groups(boxes: Tensor, groups: Tensor) -> Tensor | None:
    """``boxes`` shifted by ``group * step`` (float64) so that boxes of different groups are
    disjoint, or None if a shifted coordinate would not be exact.

    ``step`` is a power of two above ``2 * max |coordinate|``, so group ``g`` lies within
    ``g * step +- max |coordinate|``. A shift ``b + o`` with ``|o| >= |b|`` is exact iff
    ``(b + o) - o == b`` in floating point (Dekker's Fast2Sum), which is checked.
    """
    largest = float(boxes.detach().abs().max())
    step = 2.0 ** math.ceil(math.log2(2.0 * largest + 2.0)) if largest < 2.0**1000 else math.inf
    span = step * (float(groups.max()) + 1.0)
    if not math.isfinite(span):
        return None
    offsets = groups.to(torch.float64)[:, None] * step  # [N, 1], exact: small ints x 2^k
    shifted = boxes + offsets  # [N, 4]
    return shifted if torch.equal(shifted - offsets, boxes) else None


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


@functools.cache
def _torchvision_ops() -> ModuleType | None:
    """``torchvision.ops`` if torchvision imports and its compiled NMS works, else None."""
    try:
        ops = importlib.import_module("torchvision.ops")
        ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
    except Exception:  # a missing or broken install (e.g. built for another torch) is not used
        return None
    return ops
