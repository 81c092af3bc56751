"""Packing detections of many groups (classes, or image x class) into one padded batch (§4.3).

The paper applies the network to every class independently and keeps per class only detections
with ``s0`` above a threshold and at most ``first_n`` of them. Here all groups are selected and
padded at once, without a Python loop over groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Packing:
    """Where each kept detection sits in the padded batch.

    Attributes:
        index (Tensor[G, M], int64): index into the flat input for each slot, 0 for padding.
        valid (Tensor[G, M], bool): True for real detections.
        kept (Tensor[K], int64): the kept flat indices, in slot order (row-major over ``valid``).
    """

    index: Tensor
    valid: Tensor
    kept: Tensor

    def gather(self, values: Tensor) -> Tensor:
        """``values[index]`` for a flat ``[N, ...]`` tensor, shaped ``[G, M, ...]``."""
        return values[self.index]  # [G, M, ...]

    def scatter(self, values: Tensor) -> Tensor:
        """The valid slots of a ``[G, M, ...]`` tensor, flat ``[K, ...]`` in ``kept`` order."""
        return values[self.valid]  # [K, ...]


def pack_groups(
    scores: Tensor, idxs: Tensor, score_threshold: float = 0.01, first_n: int = 100
) -> Packing:
    """Select per group the at most ``first_n`` highest scores above ``score_threshold``, padded.

    Args:
        scores (Tensor[N]): scores ``s0``.
        idxs (Tensor[N], int): group of each detection (any integers).
        score_threshold (float): keep only ``scores > score_threshold``.
        first_n (int): at most this many per group (the highest scores; ties by input order).

    Returns:
        Packing: ``index``/``valid`` of shape ``[G, M]`` with ``G`` the non-empty groups in
        increasing id order and ``M`` the largest kept group, each row sorted by descending score.
    """
    device = scores.device
    cand = torch.nonzero(scores > score_threshold).flatten()  # [C]
    if cand.numel() == 0:
        empty = torch.zeros(0, 0, dtype=torch.long, device=device)
        return Packing(empty, empty.bool(), cand)
    s = scores[cand]  # [C]
    order = torch.sort(s, descending=True, stable=True).indices  # [C]
    cand, s = cand[order], s[order]
    group_ids, group = torch.unique(idxs[cand], return_inverse=True)  # [G], [C]
    order = torch.sort(group, stable=True).indices  # [C] group-major, score-descending inside
    cand, group = cand[order], group[order]
    num_groups = group_ids.numel()
    counts = torch.bincount(group, minlength=num_groups)  # [G]
    starts = torch.cumsum(counts, 0) - counts  # [G]
    pos = torch.arange(cand.numel(), device=device) - starts[group]  # [C] rank inside group
    take = pos < first_n
    cand, group, pos = cand[take], group[take], pos[take]
    width = int(counts.clamp(max=first_n).max())
    index = torch.zeros(num_groups, width, dtype=torch.long, device=device)  # [G, M]
    valid = torch.zeros(num_groups, width, dtype=torch.bool, device=device)  # [G, M]
    index[group, pos] = cand
    valid[group, pos] = True
    return Packing(index, valid, cand)
