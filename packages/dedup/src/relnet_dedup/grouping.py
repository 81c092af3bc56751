"""Per-group candidate selection for the learned remover (paper §4.3, 'Inference').

The paper applies the network to every class independently and keeps per class only detections
with ``s0`` above a threshold and at most ``first_n`` of them. Here all groups are selected at once,
without a Python loop over groups.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
    """
    cand = torch.nonzero(scores > score_threshold).flatten()  # [C]
    order = torch.sort(scores[cand], descending=True, stable=True).indices  # [C]
    cand = cand[order]
    cand = cand[torch.sort(idxs[cand], stable=True).indices]  # [C] group-major
    _, counts = torch.unique_consecutive(idxs[cand], return_counts=True)  # [G]
    starts = torch.cumsum(counts, 0) - counts  # [G]
    pos = torch.arange(cand.numel(), device=cand.device) - starts.repeat_interleave(counts)  # [C]
    return cand[pos < first_n]  # [K]
