"""Soft-NMS (Bodla et al., ICCV 2017), the other baseline of §4.3 and Table 4.

Repeatedly select the box of highest current score, then decay the score of every remaining box
of its group by ``exp(-iou^2 / sigma)`` (``"gaussian"``) or by ``1 - iou`` where
``iou > iou_threshold`` (``"linear"``); boxes whose score is below ``score_threshold`` are
dropped. The selection is sequential, but it runs for many groups at once on padded ``[C, M]``
tensors with the decay factor of every pair computed once per group. Groups of similar size are
padded together, so the Python loop runs at most about twice as many steps as the largest group
has boxes, and stops as soon as no group has a score above the threshold left. Boxes whose score
starts below ``score_threshold`` are dropped first: this is exact, since such a box can only be
selected once every remaining score is below the threshold too.

Ties are deterministic: on equal current scores the lower input index is selected first.
Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``w = x2 - x1``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from relnet_core.checks import check_choice, check_float

from .._checks import check_detections
from ..grouping import padded_groups

METHODS = ("gaussian", "linear")


def soft_nms(
    boxes: Tensor,
    scores: Tensor,
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.001,
    method: str = "gaussian",
) -> tuple[Tensor, Tensor]:
    """Soft-NMS of one class's boxes.

    Args:
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their scores, floating, finite (a score is only ever multiplied by
            factors in ``[0, 1]``, so scores are meant to be non-negative).
        sigma (float): ``> 0``, the width of the Gaussian penalty (``"gaussian"`` only).
        iou_threshold (float): in ``[0, 1]``; ``"linear"`` decays only boxes with IoU above it.
        score_threshold (float): ``> 0``; boxes whose score falls below it are dropped.
        method (str): ``"gaussian"`` or ``"linear"``.

    Returns:
        (Tensor[K] int64, Tensor[K]): the indices of the kept boxes in selection order (which is
        decreasing order of new score) and their new, decayed scores in the dtype of ``scores``.

    Example:
        >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [20.0, 0, 30, 9]])
        >>> keep, new = soft_nms(boxes, torch.tensor([0.9, 0.8, 0.7]))
        >>> keep, new.round(decimals=3)
        (tensor([0, 2, 1]), tensor([0.9000, 0.7000, 0.2100]))
    """
    check_detections(boxes, scores)
    sigma, iou_threshold, score_threshold, gaussian = _check_parameters(
        sigma, iou_threshold, score_threshold, method
    )
    idxs = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)  # [N]
    return _batched_soft_nms(boxes, scores, idxs, sigma, iou_threshold, score_threshold, gaussian)


def batched_soft_nms(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.001,
    method: str = "gaussian",
) -> tuple[Tensor, Tensor]:
    """Soft-NMS within each group independently (a group: one class, or one image and class).

    Args:
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their scores, floating, finite, meant to be non-negative.
        labels (Tensor[N]): integer group id of each box (its class, or ``image * C + class``,
            like ``batched_nms``'s ``idxs``); boxes of different groups never decay each other.
        sigma, iou_threshold, score_threshold, method: as for :func:`soft_nms`.

    Returns:
        (Tensor[K] int64, Tensor[K]): the indices of the kept boxes of all groups in decreasing
        order of new score (equal scores: lower index first), so each group's boxes are in its
        selection order, and their new scores in the dtype of ``scores``.
    """
    check_detections(boxes, scores, labels, idxs_name="labels")
    sigma, iou_threshold, score_threshold, gaussian = _check_parameters(
        sigma, iou_threshold, score_threshold, method
    )
    return _batched_soft_nms(boxes, scores, labels, sigma, iou_threshold, score_threshold, gaussian)


def _batched_soft_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    sigma: float,
    iou_threshold: float,
    score_threshold: float,
    gaussian: bool,
) -> tuple[Tensor, Tensor]:
    dtype = torch.promote_types(torch.promote_types(boxes.dtype, scores.dtype), torch.float32)
    candidates = torch.nonzero(scores >= score_threshold).flatten()  # [K], in index order
    kept, new_scores = [candidates[:0]], [scores.new_empty(0, dtype=dtype)]
    for index, valid in padded_groups(idxs, candidates):  # [C, M], rows in index order
        group_boxes = boxes[index].to(dtype)  # [C, M, 4]
        decay = _decay(_pairwise_iou(group_boxes), valid, sigma, iou_threshold, gaussian)
        current = torch.where(valid, scores[index].to(dtype), -math.inf)  # [C, M]
        selected, best = _select(current, decay, score_threshold)  # [C, S] each
        chosen = best >= score_threshold  # [C, S]
        kept.append(index.gather(1, selected)[chosen])  # [K_chunk]
        new_scores.append(best[chosen])  # [K_chunk]
    keep, new = torch.cat(kept), torch.cat(new_scores)  # [K], [K]
    by_index = torch.sort(keep).indices  # [K]: equal new scores keep the lower index first
    keep, new = keep[by_index], new[by_index]
    order = torch.sort(new, descending=True, stable=True).indices  # [K]
    return keep[order], new[order].to(scores.dtype)


def _pairwise_iou(boxes: Tensor) -> Tensor:
    """IoU of every pair of boxes of each group, one coordinate at a time (no ``[C, M, M, 2]``).

    Args:
        boxes (Tensor[C, M, 4]): boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor[C, M, M]: IoU in ``[0, 1]``, 0 for pairs with an empty union.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)  # [C, M] each
    width = torch.minimum(x2[:, :, None], x2[:, None, :])  # [C, M, M]
    width = width.sub_(torch.maximum(x1[:, :, None], x1[:, None, :])).clamp_(min=0)
    height = torch.minimum(y2[:, :, None], y2[:, None, :])  # [C, M, M]
    height = height.sub_(torch.maximum(y1[:, :, None], y1[:, None, :])).clamp_(min=0)
    inter = width.mul_(height)  # [C, M, M]
    area = (x2 - x1).clamp_(min=0) * (y2 - y1).clamp_(min=0)  # [C, M]
    union = (area[:, :, None] + area[:, None, :]).sub_(inter)  # [C, M, M]
    return inter.div_(union.clamp_(min=torch.finfo(union.dtype).tiny))  # empty union: 0 / tiny


def _decay(
    iou: Tensor, valid: Tensor, sigma: float, iou_threshold: float, gaussian: bool
) -> Tensor:
    """Factor ``[c, i, j]`` applied to box j's score when box i of group c is selected.

    The diagonal is 0, so a selected box's own score becomes 0 (below any positive threshold,
    never selected again while its group is active), and padding columns are 1, so padding stays
    at ``-inf`` (never ``-inf * 0``): the loop produces no NaN.
    """
    if gaussian:
        decay = iou.square_().mul_(-1.0 / sigma).exp_()  # [C, M, M]
    else:
        decay = torch.where(iou > iou_threshold, 1.0 - iou, 1.0)  # [C, M, M]
    decay.masked_fill_(~valid[:, None, :], 1.0)  # [C, M, M]: padding columns
    decay.diagonal(dim1=1, dim2=2).zero_()  # [C, M] view: each box decays itself to 0
    return decay


def _select(current: Tensor, decay: Tensor, score_threshold: float) -> tuple[Tensor, Tensor]:
    """The sequential selection of every group at once.

    Args:
        current (Tensor[C, M]): scores, ``-inf`` for padding.
        decay (Tensor[C, M, M]): from :func:`_decay`.
        score_threshold (float): a group is done once its highest current score is below it.

    Returns:
        (Tensor[C, S] int64, Tensor[C, S]): the slot selected at each step and its score then;
        steps whose score is below ``score_threshold`` select nothing.
    """
    c, m = current.shape
    rows = decay.reshape(c * m, m)  # [C * M, M]
    offsets = torch.arange(c, device=current.device) * m  # [C]
    current = current.clone()
    selected, best = [], []
    for _ in range(m):
        top, slot = current.max(dim=1)  # [C], [C]; the first (lowest index) of equal maxima
        if float(top.max()) < score_threshold:
            break
        selected.append(slot)
        best.append(top)
        current.mul_(rows.index_select(0, offsets + slot))  # [C, M]: decay every other box
    if not selected:
        return current.new_zeros(c, 0, dtype=torch.long), current.new_zeros(c, 0)
    return torch.stack(selected, dim=1), torch.stack(best, dim=1)  # [C, S] each


def _check_parameters(
    sigma: float, iou_threshold: float, score_threshold: float, method: str
) -> tuple[float, float, float, bool]:
    """The checked ``(sigma, iou_threshold, score_threshold, gaussian)``."""
    gaussian = check_choice("method", method, METHODS) == "gaussian"
    sigma = check_float("sigma", sigma, low=0.0, low_open=True, high_open=True)
    iou_threshold = check_float("iou_threshold", iou_threshold, low=0.0, high=1.0)
    score_threshold = check_float(
        "score_threshold", score_threshold, low=0.0, low_open=True, high_open=True
    )
    return sigma, iou_threshold, score_threshold, gaussian
