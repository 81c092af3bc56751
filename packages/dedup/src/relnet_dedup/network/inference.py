"""Inference with the learned duplicate remover, a drop-in for ``torchvision.ops.batched_nms``.

Paper §4.3 ('Inference'): the network is applied to every group (class) independently; per group
only detections with ``s0 > 0.01`` are kept, at most ``first_n = 100`` of them, and the final score
is ``s0 * mean_eta(s1)``. Groups are padded into a few buckets of similar size (see
:func:`relnet_dedup.grouping.padded_groups`) and each bucket is one batched forward: never a loop
over groups.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from relnet_core.checks import check_float, check_int

from .._checks import check_detections, check_rows, check_threshold
from ..grouping import padded_groups, select_candidates
from .module import DuplicateRemovalNetwork, check_model
from .ranked import BUCKET_SHRINK, BUCKET_SMALL, ranked_group_logits, uses_rank_table


def eta_column(thresholds: tuple[float, ...], eta: float | None) -> int | None:
    """The output index of threshold ``eta`` (None for the mean over all thresholds).

    Raises:
        ValueError: ``eta`` is not one of ``thresholds`` (the message lists them).
    """
    if eta is None:
        return None
    value = check_float("eta", eta, low=0.0, high=1.0, low_open=True)
    for i, t in enumerate(thresholds):
        if math.isclose(value, t, abs_tol=1e-6):  # np.float32(0.7) is 0.699999988
            return i
    raise ValueError(
        f"eta must be one of the model's thresholds {list(thresholds)} or None (their mean), "
        f"got {eta!r}"
    )


def combine_scores(scores: Tensor, logits: Tensor, column: int | None) -> Tensor:
    """Final score ``s0 * s1[eta]`` or ``s0 * mean_eta(s1)``.

    Args:
        scores (Tensor[..., N]): ``s0``.
        logits (Tensor[..., N, T]): logits of ``s1``.
        column (int, optional): the threshold's output index; None averages over all.

    Returns:
        Tensor[..., N]: final scores in ``[0, 1]``.
    """
    s1 = torch.sigmoid(logits)  # [..., N, T]
    s1 = s1.mean(dim=-1) if column is None else s1[..., column]  # [..., N]
    return scores * s1.to(scores.dtype)


@torch.no_grad()
def learned_batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    model: DuplicateRemovalNetwork,
    features: Tensor | None = None,
    *,
    eta: float | None = None,
    score_threshold: float = 0.01,
    first_n: int = 100,
) -> tuple[Tensor, Tensor]:
    """Learned duplicate removal of all groups at once, shaped like ``torchvision.ops.batched_nms``.

    Args:
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)`` in pixels, finite.
        scores (Tensor[N]): classification scores ``s0``, finite.
        idxs (Tensor[N], int): group of each detection: the class, or ``image * C + class``.
            Groups never interact.
        model (DuplicateRemovalNetwork): the trained network (its train/eval mode is respected).
        features (Tensor[N, feat_dim], optional): appearance features, required iff the model
            was built with ``use_appearance``.
        eta (float, optional): one of ``model.thresholds`` to use ``s1`` of that threshold alone;
            None (default) averages over all thresholds, the paper's setting.
        score_threshold (float): per group only detections with ``s0 > score_threshold`` are kept.
        first_n (int): per group at most ``first_n`` of them (the highest ``s0``).

    Returns:
        tuple[Tensor[K], Tensor[K]]: indices into the input of the kept detections sorted by
        final score descending, and their final scores ``s0 * s1``.

    Raises:
        ValueError: a bad argument (named in the message, with its value), or a model whose
            weights are not finite (its scores would be NaN).
    """
    check_model_argument(model)
    check_detections(boxes, scores, idxs)
    score_threshold = check_threshold("score_threshold", score_threshold, -math.inf, math.inf)
    first_n = check_int("first_n", first_n, low=1)
    column = eta_column(model.thresholds, eta)
    check_features(features, boxes, model)
    kept = select_candidates(scores, idxs, score_threshold, first_n)  # [K]
    final = scores.new_zeros(scores.shape)  # [N]
    if uses_rank_table(model):  # eval mode: groups in rank order, the rank-only parts reused
        group_scores = scores[kept]  # [K]
        feats = None if features is None else features[kept]  # [K, df]
        for index, valid, logits in ranked_group_logits(model, boxes[kept], idxs[kept], feats):
            # index [G, M] into kept
            final[kept[index[valid]]] = combine_scores(group_scores[index], logits, column)[valid]
    else:
        # One forward per bucket of groups of similar size (padding stays small), never per group.
        buckets = padded_groups(idxs, kept, shrink=BUCKET_SHRINK, small=BUCKET_SMALL)
        for index, valid in buckets:  # [G, M] each
            group_scores = scores[index]  # [G, M]
            feats = None if features is None else features[index]  # [G, M, df]
            logits = model(boxes[index], group_scores, valid, feats)  # [G, M, T]
            final[index[valid]] = combine_scores(group_scores, logits, column)[valid]
    final = final[kept]  # [K]
    if not bool(torch.isfinite(final).all()):  # inputs are checked: the weights are not finite
        raise ValueError(
            "model gave NaN scores: its weights hold NaN or inf (a diverged training?)"
        )
    order = torch.sort(final, descending=True, stable=True).indices  # [K]
    return kept[order], final[order]


def check_model_argument(model: object) -> None:
    """``ValueError`` unless ``model`` is the network; the message explains torchvision's order."""
    if isinstance(model, numbers.Real):
        raise ValueError(
            f"model must be a DuplicateRemovalNetwork, got {model!r} "
            f"({type(model).__name__}): learned_batched_nms(boxes, scores, idxs, model) takes the "
            "network where torchvision's batched_nms takes iou_threshold"
        )
    check_model("model", model)


def check_features(features: Tensor | None, boxes: Tensor, model: DuplicateRemovalNetwork) -> None:
    """Raise ``ValueError`` unless ``features`` is given iff the model uses appearance, shaped
    ``[N, feat_dim]``, finite and floating."""
    config = model.config
    if features is None:
        if config.use_appearance:
            raise ValueError(
                f"features are required: the model uses {config.feat_dim}-d appearance features "
                "(use_appearance=True), got None"
            )
        return
    if not config.use_appearance:
        raise ValueError(
            "features must be None: the model was built with use_appearance=False, got "
            f"{type(features).__name__} of shape {tuple(getattr(features, 'shape', ()))}"
        )
    check_rows("features", features, boxes)
    if features.shape[1] != config.feat_dim:
        raise ValueError(
            f"features must have shape {(boxes.shape[0], config.feat_dim)}, "
            f"got {tuple(features.shape)}"
        )
