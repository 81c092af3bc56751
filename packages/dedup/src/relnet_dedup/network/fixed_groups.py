"""The learned remover on a fixed number of groups, each padded to ``first_n``: one forward of
constant shape ``[G, first_n]`` whatever the detections, and no Python branch on their values, so
that it traces (``torch.jit.trace``, ONNX) for any number of detections, zero included.

:func:`~relnet_dedup.learned_batched_nms` is the one to run eagerly: it pads groups into buckets
of their own sizes and reuses rank-only parts, which a trace would freeze to the example's
groups. This one costs ``G * first_n^2`` pairs however few detections there are; it keeps the
same detections in the same order (but for ties between equal scores), with the same scores up
to float rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from relnet_core.checks import check_int

from .._checks import check_detections, check_threshold
from .inference import check_features, check_model_argument, combine_scores, eta_column
from .module import DuplicateRemovalNetwork


@torch.no_grad()
def fixed_groups_learned_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    model: DuplicateRemovalNetwork,
    features: Tensor | None = None,
    *,
    num_groups: int,
    eta: float | None = None,
    score_threshold: float = 0.01,
    first_n: int = 100,
) -> tuple[Tensor, Tensor]:
    """:func:`~relnet_dedup.learned_batched_nms` for group ids ``0 .. num_groups - 1``, traceable.

    Args:
        boxes (Tensor[N, 4]), scores (Tensor[N]), model, features (Tensor[N, feat_dim]),
            eta, score_threshold, first_n: as :func:`~relnet_dedup.learned_batched_nms`.
        idxs (Tensor[N], int): group of each detection, in ``0 .. num_groups - 1`` (a detection
            of another group is dropped).
        num_groups (int): ``G``, the number of groups: for a detector's classes ``C + 1`` (the
            labels ``1 .. C``; group 0 stays empty).

    Returns:
        tuple[Tensor[K], Tensor[K]]: indices of the kept detections sorted by final score
        descending, and their final scores. Those of
        :func:`~relnet_dedup.learned_batched_nms` but for the order of exactly equal scores.

    Raises:
        ValueError: a bad argument, named in the message with its value.
    """
    check_model_argument(model)
    check_detections(boxes, scores, idxs)
    score_threshold = check_threshold("score_threshold", score_threshold, -math.inf, math.inf)
    num_groups = check_int("num_groups", num_groups, low=1)
    first_n = check_int("first_n", first_n, low=1)
    column = eta_column(model.thresholds, eta)
    check_features(features, boxes, model)
    n = scores.shape[0]
    group = torch.arange(num_groups, device=idxs.device)  # [G]
    member = (idxs[None, :] == group[:, None]) & (scores > score_threshold)[None, :]  # [G, N]
    table = torch.where(member, scores[None, :], -math.inf)  # [G, N]
    # first_n columns of padding: every row has first_n entries, so k is a constant
    table = torch.cat([table, table.new_full((num_groups, first_n), -math.inf)], dim=1)
    # (a stable sort would break ties as eager inference does, but does not export to ONNX)
    top = torch.topk(table, first_n, dim=1)  # [G, first_n]
    valid = top.values > -math.inf  # [G, first_n]
    # padding points at an appended row (index N), whose box is a real one, never a key
    index = torch.where(valid, top.indices, n)  # [G, first_n] into 0 .. N
    boxes_p = torch.cat([boxes, boxes.new_tensor([[0.0, 0.0, 1.0, 1.0]])])  # [N + 1, 4]
    scores_p = torch.cat([scores, scores.new_zeros(1)])  # [N + 1]
    feats = None
    if features is not None:
        feats = torch.cat([features, features.new_zeros(1, features.shape[1])])[index]
    group_scores = scores_p[index]  # [G, first_n]
    logits = model(boxes_p[index], group_scores, valid, feats)  # [G, first_n, T]
    final = combine_scores(group_scores, logits, column)  # [G, first_n]
    keep, final = index[valid], final[valid]  # [K]
    order = torch.sort(final, descending=True).indices  # [K]
    return keep[order], final[order]
