"""End-to-end training of the duplicate removal network with the detector (paper §4.4).

The class-specific boxes of a set of RoIs (``RelationRoIHeads`` passes each image's top
proposals, the set of test time; appended ground truths, if any, are left out as the authors'
``nongt``) form one group per (image, class); per group the at most ``first_n`` highest scores
above ``score_threshold`` go through the network, whose loss (§4.3, BCE on ``s0 * s1`` per eta)
is added to the detector's with equal weight. Targets come from ``batched_assign_duplicate_targets``
against the image's ground truths of that class. ``s0`` and the decoded boxes are detached: the
gradient reaches the head only through the appearance feature (Fig. 3b's arrow into the 1024-d
feature); the classifier and regressor stay driven by their own losses, so the dedup loss cannot
lower a duplicate's ``s0`` that the classification loss wants high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.nn import functional as F

from relnet_dedup import (
    DuplicateRemovalNetwork,
    batched_assign_duplicate_targets,
    dedup_loss,
    select_candidates,
)

if TYPE_CHECKING:
    from .roi_heads import RelationRoIHeads

__all__ = [
    "DedupBatch",
    "dedup_batch",
    "end_to_end_loss",
    "proposal_dedup_loss",
    "select_groups",
]


@torch.no_grad()
def select_groups(
    scores: Tensor, groups: Tensor, score_threshold: float, first_n: int
) -> tuple[Tensor, Tensor]:
    """Per group the at most ``first_n`` highest scores above ``score_threshold``
    (:func:`relnet_dedup.select_candidates`, as at test time), as slots of a padded ``[G, M]``
    batch.

    Args:
        scores (Tensor[K]): ``s0`` of every candidate.
        groups (Tensor[K], int64): group id of every candidate (any integers).
        score_threshold (float): keep only ``scores > score_threshold``.
        first_n (int): at most this many per group.

    Returns:
        (Tensor[G, M] int64, Tensor[G, M] bool): the candidate index of every slot (0 for padding),
        rows in descending score order within a group (ties: lower index first), and which slots
        are real. ``G`` counts the non-empty groups in increasing id, ``M`` the largest kept.
    """
    cand = select_candidates(scores, groups, score_threshold, first_n)  # [K] group-major
    _, counts = torch.unique_consecutive(groups[cand], return_counts=True)  # [G], each <= first_n
    starts = torch.cumsum(counts, 0) - counts  # [G]
    row = torch.repeat_interleave(torch.arange(counts.numel(), device=cand.device), counts)  # [K]
    pos = torch.arange(cand.numel(), device=cand.device) - starts[row]  # [K]
    g, m = int(counts.numel()), int(counts.max()) if counts.numel() else 0
    index = torch.zeros(g, m, dtype=torch.long, device=cand.device)  # [G, M]
    valid = torch.zeros(g, m, dtype=torch.bool, device=cand.device)  # [G, M]
    index[row, pos] = cand
    valid[row, pos] = True
    return index, valid


@dataclass(frozen=True)
class DedupBatch:
    """The duplicate removal network's training input: one row per (image, class) group.

    Attributes:
        boxes (Tensor[G, M, 4]): class-specific decoded boxes (detached).
        scores (Tensor[G, M]): their ``s0`` (detached); 0 for padding.
        targets (Tensor[G, M, T]): 1 correct / 0 duplicate per IoU threshold; 0 for padding.
        valid (Tensor[G, M], bool): False for padding.
        roi (Tensor[G, M], int64): the RoI of each slot (a row of the head's features).
        index (Tensor[G, M], int64): the flat (RoI, class) of each slot, ``roi * C + class - 1``.
    """

    boxes: Tensor
    scores: Tensor
    targets: Tensor
    valid: Tensor
    roi: Tensor
    index: Tensor


@torch.no_grad()
def dedup_batch(
    class_logits: Tensor,
    boxes: Tensor,
    is_gt: Tensor,
    image_index: Tensor,
    gt_boxes: Sequence[Tensor],
    gt_labels: Sequence[Tensor],
    *,
    thresholds: Sequence[float],
    score_threshold: float,
    first_n: int,
) -> DedupBatch | None:
    """The padded groups and targets of :func:`end_to_end_loss`; None without any candidate.

    Args: as :func:`end_to_end_loss`; ``thresholds`` are the network's IoU thresholds eta.
    """
    num_classes = class_logits.shape[1] - 1
    s0 = F.softmax(class_logits.detach().float(), dim=-1)[:, 1:]  # [R, C]
    s0 = s0.masked_fill(is_gt[:, None], -1.0)  # appended ground truths: never candidates
    s0 = s0.flatten()  # [R*C], row r * C + class c - 1
    roi = torch.arange(s0.numel(), device=s0.device) // num_classes  # [R*C]
    cls = torch.arange(s0.numel(), device=s0.device) % num_classes  # [R*C]
    groups = image_index[roi] * num_classes + cls  # [R*C]
    index, valid = select_groups(s0, groups, score_threshold, first_n)  # [G, M]
    if index.numel() == 0:
        return None
    det_boxes = boxes.detach()[:, 1:].reshape(-1, 4).float()  # [R*C, 4]
    flat = index[valid]  # [K]
    gt_group = torch.cat(
        [i * num_classes + labels.to(torch.long) - 1 for i, labels in enumerate(gt_labels)]
    )  # [Gt]
    targets = batched_assign_duplicate_targets(
        det_boxes[flat],
        s0[flat],
        groups[flat],
        torch.cat([b.float() for b in gt_boxes]).reshape(-1, 4),
        gt_group,
        thresholds=thresholds,
    )  # [K, T]
    padded_targets = targets.new_zeros(*valid.shape, targets.shape[1])  # [G, M, T]
    padded_targets[valid] = targets
    return DedupBatch(
        boxes=det_boxes[index],  # [G, M, 4]
        scores=torch.where(valid, s0[index], 0.0),  # [G, M]
        targets=padded_targets,
        valid=valid,
        roi=roi[index],  # [G, M]
        index=index,
    )


def end_to_end_loss(
    network: DuplicateRemovalNetwork,
    class_logits: Tensor,
    boxes: Tensor,
    features: Tensor,
    is_gt: Tensor,
    image_index: Tensor,
    gt_boxes: Sequence[Tensor],
    gt_labels: Sequence[Tensor],
    *,
    score_threshold: float,
    first_n: int,
    detach_scores: bool = True,
) -> Tensor:
    """The duplicate classification loss over the RoIs of a batch.

    Args:
        network (DuplicateRemovalNetwork): the end-to-end network (``feat_dim`` = head's).
        class_logits (Tensor[R, C + 1]): the predictor's logits (detached here).
        boxes (Tensor[R, C + 1, 4]): the decoded class-specific boxes, clipped (detached here).
        features (Tensor[R, D]): the head's feature of every RoI (the gradient path).
        is_gt (Tensor[R], bool): the ground-truth boxes appended to the proposals; left out.
        image_index (Tensor[R], int64): the image of every RoI.
        gt_boxes (sequence of Tensor[G_i, 4]): each image's ground-truth boxes.
        gt_labels (sequence of Tensor[G_i]): their labels ``1 .. C``.
        score_threshold (float): candidates need ``s0 > score_threshold``.
        first_n (int): at most this many candidates per (image, class).
        detach_scores (bool): ``s0`` in the loss is detached (the default); False lets the
            loss reach the classifier through ``s0`` (the authors' code).

    Returns:
        Tensor[]: the mean BCE over all candidates and thresholds; a zero connected to every
        parameter of ``network`` and to ``features`` when there is no candidate (so that DDP sees
        a gradient for every parameter at every step).
    """
    batch = dedup_batch(
        class_logits,
        boxes,
        is_gt,
        image_index,
        gt_boxes,
        gt_labels,
        thresholds=network.thresholds,
        score_threshold=score_threshold,
        first_n=first_n,
    )
    if batch is None:
        return _zero(network, features)
    group_features = features[batch.roi] if network.config.use_appearance else None  # [G, M, D]
    logits = network(batch.boxes, batch.scores, batch.valid, group_features)  # [G, M, T]
    scores = batch.scores
    if not detach_scores:  # the same values, with the classifier's graph
        s0 = F.softmax(class_logits.float(), dim=-1)[:, 1:]  # [R, C]
        scores = torch.where(batch.valid, s0.flatten()[batch.index], 0.0)  # [G, M]
    return dedup_loss(logits, scores, batch.targets, batch.valid)


def proposal_dedup_loss(
    heads: RelationRoIHeads,
    features: dict[str, Tensor],
    proposals: list[Tensor],
    image_shapes: list[tuple[int, int]],
    targets: list[dict[str, Tensor]],
) -> Tensor:
    """``loss_dedup`` (§4.4) on each image's ``dedup_proposals`` highest-scoring proposals.

    The head runs on them as at test time (every proposal a key) and the end-to-end network
    on their class-specific boxes (:func:`end_to_end_loss`): it
    learns on the crowd of duplicates it will meet at test time, which the sampled RoIs
    (a quarter positives, a few per object) do not hold. The gradient reaches the head
    through the appearance feature only, and stops at the pooled features: the backbone
    learns from the RPN and detection losses (RoIAlign's backward for these extra RoIs
    would cost about a third of a CPU training step).

    Args:
        features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
        proposals (list[Tensor[N_i, 4]]): the RPN's boxes of each image, by score.
        image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
        targets (list[dict[str, Tensor]]): ``boxes`` and ``labels`` of each image.
    """

    assert heads.dedup is not None
    top = [p[: heads.dedup_proposals] for p in proposals]  # list of [K_i, 4]
    counts = [p.shape[0] for p in top]
    out = heads.run_box_head(
        features, top, image_shapes, pool_grad=heads.remover.e2e_backbone_gradient
    )
    head_features, class_logits, box_regression = out.features, out.class_logits, out.box_regression
    device = class_logits.device
    return end_to_end_loss(
        heads.dedup,
        class_logits,
        heads.decode_boxes(box_regression, top, image_shapes, counts),
        head_features,
        torch.zeros(sum(counts), dtype=torch.bool, device=device),
        _image_index(counts, device),
        [t["boxes"] for t in targets],
        [t["labels"] for t in targets],
        score_threshold=heads.remover.score_threshold,
        first_n=heads.remover.first_n,
        detach_scores=heads.remover.e2e_detach_scores,
    )


def _image_index(counts: list[int], device: torch.device) -> Tensor:
    """Tensor[sum counts] int64: the image of every row."""
    return torch.repeat_interleave(
        torch.arange(len(counts), device=device), torch.tensor(counts, device=device)
    )


def _zero(network: DuplicateRemovalNetwork, features: Tensor) -> Tensor:
    zero = features.sum() * 0.0
    for p in network.parameters():
        zero = zero + p.sum() * 0.0
    return zero
