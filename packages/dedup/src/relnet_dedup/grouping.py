"""Groups of detections, one class of one image each: choosing every group's candidates and
padding groups into batches, for all groups at once (a Python loop runs over the rows of a group,
never over groups).

- :func:`select_candidates`: the learned remover's per-class candidates (paper §4.3,
  'Inference'): the paper applies the network to every class independently and keeps per class
  only detections with ``s0`` above a threshold and at most ``first_n`` of them.
- :func:`padded_groups`: the detections of many groups padded into ``[C, M]`` batches of groups of
  similar size, so that NMS, Soft-NMS and the learned remover run on many groups at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import torch
from torch import Tensor

from relnet_core.checks import check_float, check_int, check_tensor

from ._checks import check_group_ids

# Entries of a [C, M, M] pairwise matrix held at once: chunks of groups stay below this.
PAIRWISE_BUDGET = 1 << 22
# A chunk holds groups more than 1/SHRINK as large as its largest (padding costs at most
# SHRINK^2 times the real pairs), and every group left once the largest is <= SMALL: each chunk
# costs a Python loop over its rows, which for small groups outweighs the padding.
SHRINK = 4.0
SMALL = 16


def select_candidates(
    scores: Tensor, idxs: Tensor, score_threshold: float = 0.01, first_n: int = 100
) -> Tensor:
    """Per group, the at most ``first_n`` highest scores above ``score_threshold``.

    Args:
        scores (Tensor[N]): scores ``s0``.
        idxs (Tensor[N], int): group of each detection (any integers).
        score_threshold (float): keep only ``scores > score_threshold``.
        first_n (int): at most this many per group (the highest scores; ties by input order).

    Returns:
        Tensor[K], int64: the selected indices, group-major (increasing group id) and by
        descending score inside each group.

    Raises:
        ValueError: ``scores`` not a floating ``[N]`` tensor, ``idxs`` not an integer ``[N]``
            tensor on its device, ``score_threshold`` not a number or ``first_n`` not an int
            ``>= 1`` (the tensors' values are not looked at: no device sync).

    Example:
        >>> scores = torch.tensor([0.9, 0.005, 0.8, 0.7, 0.6])
        >>> select_candidates(scores, torch.tensor([1, 1, 0, 1, 1]), first_n=2)
        tensor([2, 0, 3])
    """
    check_tensor("scores", scores, finite=False, shape=(None,))
    check_group_ids("idxs", idxs, scores, "scores")
    score_threshold = check_float("score_threshold", score_threshold)
    first_n = check_int("first_n", first_n, low=1)
    cand = torch.nonzero(scores > score_threshold).flatten()  # [C]
    order = torch.sort(scores[cand], descending=True, stable=True).indices  # [C]
    cand = cand[order]
    cand = cand[torch.sort(idxs[cand], stable=True).indices]  # [C] group-major
    _, counts = torch.unique_consecutive(idxs[cand], return_counts=True)  # [G]
    starts = torch.cumsum(counts, 0) - counts  # [G]
    pos = torch.arange(cand.numel(), device=cand.device) - starts.repeat_interleave(counts)  # [C]
    return cand[pos < first_n]  # [K]


def padded_groups(
    idxs: Tensor,
    order: Tensor,
    budget: int | None = None,
    shrink: float = SHRINK,
    small: int = SMALL,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Chunks of groups, each padded to its largest group, keeping ``order`` within every group.

    Args:
        idxs (Tensor[N], int): the group id of every detection.
        order (Tensor[K], int64): the detections to pad (a subset of ``0 .. N-1``), in the order
            their rows should have inside each group.
        budget (int, optional): at most ``max(M^2, budget)`` entries of ``C * M * M`` per chunk;
            ``PAIRWISE_BUDGET`` when omitted.
        shrink (float): a chunk holds the groups more than ``1 / shrink`` as large as its
            largest (``SHRINK`` by default; smaller means less padding and more chunks).
        small (int): once the largest group left has at most this many rows, one chunk takes
            every group left (``SMALL`` by default).

    Yields:
        (Tensor[C, M] int64, Tensor[C, M] bool): the detection index of each slot (0 for padding)
        and whether the slot holds a detection. Groups come largest first; a chunk holds groups
        of similar size (see ``shrink`` and ``small``) and at most ``budget`` pairwise entries.
    """
    if order.numel() == 0:
        return
    budget = PAIRWISE_BUDGET if budget is None else budget
    grouped = order[torch.sort(idxs[order], stable=True).indices]  # [K], ``order`` kept per group
    _, counts = torch.unique_consecutive(idxs[grouped], return_counts=True)  # [G]
    starts = torch.cumsum(counts, 0) - counts  # [G]
    by_size = torch.sort(counts, descending=True, stable=True).indices  # [G]
    negated_sizes = (-counts[by_size]).tolist()  # ascending
    first = 0
    while first < len(negated_sizes):
        width = -negated_sizes[first]  # groups are sorted largest first: M of this chunk
        limit = -width / shrink if width > small else 0.0
        end = bisect.bisect_left(negated_sizes, limit, lo=first + 1)
        end = min(end, first + max(1, budget // (width * width)))
        chunk = by_size[first:end]  # [C]
        first = end
        slot = torch.arange(width, device=idxs.device)  # [M]
        valid = slot[None, :] < counts[chunk][:, None]  # [C, M]
        flat = (starts[chunk][:, None] + slot[None, :]).clamp(max=grouped.numel() - 1)  # [C, M]
        index = torch.where(valid, grouped[flat], 0)  # [C, M]
        yield index, valid
