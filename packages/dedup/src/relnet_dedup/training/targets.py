"""Training targets of the duplicate removal network: paper §4.3, 'Duplicate removal is a two class
classification problem' and the multiple IoU thresholds eta of Fig. 3 (b).

Each detection belongs to the ground truth with which its IoU is highest. For each threshold eta,
among the detections whose IoU with their own ground truth is ``>= eta``, the highest-scoring one
per ground truth is labelled 1 (correct) and all others 0 (duplicate); a ground truth with no such
detection labels nothing. Ties are broken deterministically: equal IoU goes to the lower
ground-truth index, equal score to the lower detection index.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``w = x2 - x1``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from relnet_geometry import box_iou

from .._checks import check_box_matrix, check_detections, check_group_ids, check_thresholds

DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
_CHUNK_ELEMENTS = 1 << 22  # IoU entries held at once: memory is O(min(N, chunk) * G), not O(N * G)


@torch.no_grad()
def assign_duplicate_targets(
    boxes: Tensor,
    scores: Tensor,
    gt_boxes: Tensor,
    thresholds: Sequence[float] | Tensor = DEFAULT_THRESHOLDS,
) -> Tensor:
    """Correct (1) / duplicate (0) labels of one class's detections, one column per IoU threshold.

    Args:
        boxes (Tensor[N, 4]): detections ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their classification scores ``s0``, floating, finite.
        gt_boxes (Tensor[G, 4]): ground-truth boxes ``(x1, y1, x2, y2)`` of the same class.
        thresholds (sequence of float or Tensor[T]): the IoU thresholds eta, each in ``(0, 1]``.

    Returns:
        Tensor[N, T]: 1.0 where the detection is the highest-scoring one (lower index on equal
        scores) among those whose IoU with their own ground truth (the one of highest IoU, lower
        index on equal IoU) is ``>= eta``, else 0.0; in the dtype of ``scores``. All zeros when
        ``G = 0``; shape ``[0, T]`` when ``N = 0``.

    Example:
        >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 9.0]])
        >>> gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
        >>> assign_duplicate_targets(boxes, torch.tensor([0.6, 0.9]), gt, thresholds=(0.5, 0.95))
        tensor([[0., 1.],
                [1., 0.]])
    """
    check_detections(boxes, scores)
    check_box_matrix("gt_boxes", gt_boxes)
    _check_same_device(boxes, gt_boxes)
    etas = _thresholds(thresholds, boxes)
    groups = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)  # [N]
    gt_groups = torch.zeros(gt_boxes.shape[0], dtype=torch.long, device=boxes.device)  # [G]
    return _assign(boxes, scores, groups, gt_boxes, gt_groups, etas)


@torch.no_grad()
def batched_assign_duplicate_targets(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    gt_boxes: Tensor,
    gt_idxs: Tensor,
    thresholds: Sequence[float] | Tensor = DEFAULT_THRESHOLDS,
) -> Tensor:
    """:func:`assign_duplicate_targets` for many groups in one vectorised call.

    A group is one (image, class) pair, as the ``idxs`` of ``torchvision.ops.batched_nms``; a
    detection is matched only to the ground truths of its own group. The result equals calling
    :func:`assign_duplicate_targets` on each group separately.

    Args:
        boxes (Tensor[N, 4]): detections ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their classification scores, floating, finite.
        idxs (Tensor[N]): integer group id of each detection.
        gt_boxes (Tensor[G, 4]): ground-truth boxes ``(x1, y1, x2, y2)``.
        gt_idxs (Tensor[G]): integer group id of each ground truth.
        thresholds (sequence of float or Tensor[T]): the IoU thresholds eta, each in ``(0, 1]``.

    Returns:
        Tensor[N, T]: 1.0 for correct and 0.0 for duplicate detections, in the dtype of ``scores``.
    """
    check_detections(boxes, scores, idxs)
    check_box_matrix("gt_boxes", gt_boxes)
    check_group_ids("gt_idxs", gt_idxs, gt_boxes, "gt_boxes")
    _check_same_device(boxes, gt_boxes)
    etas = _thresholds(thresholds, boxes)
    return _assign(boxes, scores, idxs, gt_boxes, gt_idxs, etas)


def _assign(
    boxes: Tensor, scores: Tensor, idxs: Tensor, gt_boxes: Tensor, gt_idxs: Tensor, etas: Tensor
) -> Tensor:
    n, g, t = boxes.shape[0], gt_boxes.shape[0], etas.shape[0]
    if n == 0 or g == 0:
        return scores.new_zeros(n, t)
    best_iou, best_gt = _match(boxes.to(etas.dtype), idxs, gt_boxes.to(etas.dtype), gt_idxs)
    eligible = best_iou[:, None] >= etas[None, :]  # [N, T]
    # rank 0 = highest score; a stable sort puts equal scores in index order, lower index first
    order = torch.sort(scores, descending=True, stable=True).indices  # [N]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n, device=boxes.device)  # [N]
    candidate_rank = torch.where(eligible, rank[:, None], n)  # [N, T]; n = not eligible
    winner = torch.full((g, t), n, dtype=rank.dtype, device=boxes.device)  # [G, T]
    winner = winner.scatter_reduce(
        0, best_gt[:, None].expand(n, t), candidate_rank, reduce="amin"
    )  # [G, T]: rank of the best eligible detection of each ground truth
    correct = eligible & (winner[best_gt] == rank[:, None])  # [N, T]
    return correct.to(scores.dtype)


def _match(boxes: Tensor, idxs: Tensor, gt_boxes: Tensor, gt_idxs: Tensor) -> tuple[Tensor, Tensor]:
    """IoU with, and index of, each detection's own ground truth (-1 and some index if none)."""
    n, g = boxes.shape[0], gt_boxes.shape[0]
    gt_range = torch.arange(g, device=boxes.device)  # [G]
    best_iou, best_gt = [], []
    chunk = max(1, _CHUNK_ELEMENTS // g)
    for start in range(0, n, chunk):
        iou = box_iou(boxes[start : start + chunk], gt_boxes)  # [n, G]
        same_group = idxs[start : start + chunk, None] == gt_idxs[None, :]  # [n, G]
        iou = iou.masked_fill(~same_group, -1.0)
        top = iou.amax(dim=1)  # [n]
        # lowest ground-truth index among those of highest IoU
        first = torch.where(iou == top[:, None], gt_range[None, :], g).amin(dim=1)  # [n]
        best_iou.append(top)
        best_gt.append(first)
    return torch.cat(best_iou), torch.cat(best_gt)


def _thresholds(thresholds: Sequence[float] | Tensor, boxes: Tensor) -> Tensor:
    values = check_thresholds("thresholds", thresholds)
    dtype = torch.promote_types(boxes.dtype, torch.float32)
    return torch.tensor(values, dtype=dtype, device=boxes.device)  # [T]


def _check_same_device(boxes: Tensor, gt_boxes: Tensor) -> None:
    if gt_boxes.device != boxes.device:
        raise ValueError(f"gt_boxes is on {gt_boxes.device} but boxes on {boxes.device}")
