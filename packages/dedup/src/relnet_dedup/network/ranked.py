"""The learned remover's inference on rank-ordered groups, with the rank-only parts reused.

Inside ``learned_batched_nms`` every group's detections sit in descending ``s0`` order (the
``first_n`` selection), so a detection's rank is its slot in the padded group and its rank feature
``W_fR · rank_embedding(rank)`` is a row of one ``[R, d]`` table. Without appearance features that
row is the whole input of the relation module, so the queries, keys, values and the appearance
term of every pair's logit (``[N_r, R, R]``) are functions of the ranks alone: computed once per
set of weights, they are sliced for every group (``[N_r, M, M]``), and only the geometry is left
per pair (groups of more than ``TABLE_MAX`` rows go without the table). With appearance features
the rank features are added to the projected appearance on the selected rows, and the queries,
keys and values are projected per bucket. Both equal ``DuplicateRemovalNetwork.forward`` exactly
(in exact arithmetic; ``tests/test_ranked.py``).

The table is cached on the model together with a copy of the weights it was computed from; any
change of those weights (an optimizer step, ``load_state_dict``, an in-place edit through
``.data``, another dtype or device) makes the comparison fail and the table is recomputed. It is
used only in eval mode with gradients disabled: training and autograd never see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from relnet_attention import shifted_exp
from relnet_geometry import rank_embedding

from ..grouping import padded_groups
from .module import DuplicateRemovalNetwork

# Buckets of groups within 1.25x of each other's size: every pair costs the network ~4 kFLOP, so
# less padding pays for the extra forwards (bench_speed.py) ...
BUCKET_SHRINK = 1.25
# ... except for groups of at most 64 rows, all in one bucket: a bucket's fixed cost (~0.3 ms of
# small ops) is then more than its padding (at most 64^2 pairs per group). One image of the
# detector's candidates (8 classes of at most first_n = 32): 5.2 -> 4.0 ms (issue 16).
BUCKET_SMALL = 64
CACHE = "_rank_table"  # the attribute of the model that holds its RankTable
TABLE_STEP = 64  # the table's rows are rounded up to a multiple of this
TABLE_MAX = 256  # larger groups (first_n > 256) go without the table: it would hold N_r R^2 x 2


@dataclass(frozen=True)
class RankTable:
    """The rank-only parts of a network without appearance, for ranks ``0 .. R-1``.

    Attributes:
        weights (tuple[Tensor, ...]): copies of the weights they were computed from.
        features (Tensor[R, d]): ``W_fR · rank_embedding(r)``, the relation module's input.
        values (Tensor[R, d]): ``W_V`` of it.
        logits (Tensor[N_r, R, R]): the appearance logits of every pair of ranks.
        exp_logits (Tensor[N_r, R, R]): ``exp(logits - max)``, each row's maximum subtracted.
    """

    weights: tuple[Tensor, ...]
    features: Tensor
    values: Tensor
    logits: Tensor
    exp_logits: Tensor


def uses_rank_table(model: DuplicateRemovalNetwork) -> bool:
    """Whether :func:`ranked_logits` applies: eval mode, gradients off, rank input, and geometry
    that does not change the input (``"pairwise"`` or ``"none"``)."""
    config = model.config
    return (
        not model.training
        and not torch.is_grad_enabled()
        and config.rank_feature == "rank"
        and config.geometry != "unary"
    )


def ranked_group_logits(
    model: DuplicateRemovalNetwork, boxes: Tensor, idxs: Tensor, features: Tensor | None
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Logits of rank-ordered groups, padded into buckets of similar size.

    Args:
        model (DuplicateRemovalNetwork): ``uses_rank_table(model)`` must hold.
        boxes (Tensor[K, 4]): boxes ``(x1, y1, x2, y2)``, group-major (equal ``idxs`` adjacent)
            and in descending ``s0`` order (ties in any order) inside each group.
        idxs (Tensor[K], int): the group of each row.
        features (Tensor[K, feat_dim], optional): appearance features iff the model uses them.

    Yields:
        (Tensor[G, M] int64, Tensor[G, M] bool, Tensor[G, M, T]): per bucket, the row of each
        slot (0 for padding), the valid slots and the logits (padding rows are meaningless).
    """
    dtype = model.classifier.weight.dtype
    relation = model.relation
    boxes = boxes.to(dtype)  # [K, 4]
    _, counts = torch.unique_consecutive(idxs, return_counts=True)  # [G]
    if counts.numel() == 0:
        return
    largest = int(counts.max())
    rows = torch.arange(idxs.numel(), device=idxs.device)  # [K]
    use_table = features is None and largest <= TABLE_MAX and model.overlap is None
    if use_table:
        table = rank_table(model, largest)
    else:
        ranks = rows - (torch.cumsum(counts, 0) - counts).repeat_interleave(counts)  # [K]
        x = rank_features(model, largest)[ranks]  # [K, d]
        if features is not None:
            assert model.appearance is not None
            x = model.appearance(features.to(dtype)) + x  # [K, d]
    for index, valid in padded_groups(idxs, rows, shrink=BUCKET_SHRINK, small=BUCKET_SMALL):
        m = index.shape[1]
        if use_table:
            x_g = table.features[None, :m]  # [1, M, d]
            values_g = table.values[None, :m]  # [1, M, d]
            logits_g = table.logits[None, :, :m, :m]  # [1, Nr, M, M]
            exp_g: Tensor | None = table.exp_logits[None, :, :m, :m]  # [1, Nr, M, M]
        else:
            # Projected per bucket: gathering d-wide rows, not N_r d_k-wide queries and keys.
            x_g = x[index]  # [G, M, d]
            if model.overlap is not None:  # slots are in rank order: j comes before i if j < i
                slot = torch.arange(m, device=index.device)
                before = (slot[None, :] < slot[:, None]) & valid[:, None, :]  # [G, M, M]
                x_g = x_g + model.overlap_input(boxes[index], before)
            values_g = relation.value(x_g)  # [G, M, d]
            logits_g = relation.appearance_logits(relation.query(x_g), relation.key(x_g))
            exp_g = None
        out = relation.attend(x_g, values_g, logits_g, boxes[index], valid, exp_logits=exp_g)
        yield index, valid, model.logits(out)  # [G, M, T]


def rank_features(model: DuplicateRemovalNetwork, size: int) -> Tensor:
    """``W_fR · rank_embedding(r)`` for ranks ``0 .. size-1``: Tensor[size, d]."""
    assert model.rank is not None
    dtype = model.rank.weight.dtype
    ranks = torch.arange(size, dtype=dtype, device=model.rank.weight.device)  # [R]
    features: Tensor = model.rank(rank_embedding(ranks, model.config.embed_dim))  # [R, d]
    return features


def rank_table(model: DuplicateRemovalNetwork, size: int) -> RankTable:
    """The cached :class:`RankTable` of ``model`` with at least ``size`` ranks, recomputed when
    the weights it was computed from changed (compared by value, so no change goes unseen)."""
    weights = _table_weights(model)
    table: RankTable | None = model.__dict__.get(CACHE)
    if table is None or table.features.shape[0] < size or not _same(table.weights, weights):
        rows = -(-max(size, 1) // TABLE_STEP) * TABLE_STEP  # rounded up: fewer recomputations
        # Plain tensors (usable outside inference mode too) without a graph.
        with torch.inference_mode(False), torch.no_grad():
            table = _compute_table(model, weights, max(size, rows))
        model.__dict__[CACHE] = table
    return table


def _compute_table(model: DuplicateRemovalNetwork, weights: list[Tensor], size: int) -> RankTable:
    relation = model.relation
    x = rank_features(model, size)  # [R, d]
    logits = relation.appearance_logits(relation.query(x), relation.key(x))  # [Nr, R, R]
    return RankTable(
        weights=tuple(w.detach().clone() for w in weights),
        features=x,
        values=relation.value(x),  # [R, d]
        logits=logits,
        exp_logits=shifted_exp(logits),  # [Nr, R, R]
    )


def _table_weights(model: DuplicateRemovalNetwork) -> list[Tensor]:
    """Every parameter the table depends on: ``W_fR`` and the relation module's ``W_Q, W_K,
    W_V`` (weights and biases)."""
    modules: list[nn.Module | None] = [model.rank, *_projections(model)]
    return [p for module in modules if module is not None for p in module.parameters()]


def _projections(model: DuplicateRemovalNetwork) -> list[nn.Module]:
    relation = model.relation
    return [relation.query, relation.key, relation.value]


def _same(saved: tuple[Tensor, ...], current: list[Tensor]) -> bool:
    return len(saved) == len(current) and all(
        a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
        for a, b in zip(saved, current, strict=True)
    )
