"""Padding the detections of many groups into ``[C, M]`` batches, so that NMS and Soft-NMS run on
all groups at once (the loop is over the rows of a group, never over groups)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import torch
from torch import Tensor

# Entries of a [C, M, M] pairwise matrix held at once: chunks of groups stay below this.
PAIRWISE_BUDGET = 1 << 22
# A chunk holds groups more than 1/SHRINK as large as its largest (padding costs at most
# SHRINK^2 times the real pairs), and every group left once the largest is <= SMALL: each chunk
# costs a Python loop over its rows, which for small groups outweighs the padding.
SHRINK = 4.0
SMALL = 16


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
