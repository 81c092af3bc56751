"""The duplicate classification loss of paper §4.3 ('Training').

Binary cross entropy on the final score ``p = s0 * s1`` for every threshold eta, averaged over all
valid detections of all groups. Computed in log space from the logits of ``s1``:
``log p = log s0 + log sigmoid(z)`` and ``log(1 - p) = log((1 - s0) + s0 * sigmoid(-z))``, so no
``log(0)`` is ever taken, whatever ``s0`` and ``z``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from relnet_core.checks import check_float

LOG_MIN = -100.0  # each log term is clamped here, as torch.nn.BCELoss does


def dedup_loss(
    logits: Tensor,
    scores: Tensor,
    targets: Tensor,
    valid: Tensor | None = None,
    pos_weight: float = 1.0,
) -> Tensor:
    """Mean BCE of ``s0 * sigmoid(logits)`` against the multi-threshold targets.

    Args:
        logits (Tensor[..., N, T]): logits of ``s1``, one per threshold.
        scores (Tensor[..., N]): classification scores ``s0`` in ``[0, 1]``.
        targets (Tensor[..., N, T]): 1 for the correct detection of a ground truth at that
            threshold, 0 for duplicates and false positives.
        valid (Tensor[..., N], bool, optional): False for padding, which contributes nothing.
        pos_weight (float): weight of the positive terms (the negatives weigh 1), finite, >= 0.

    Returns:
        Tensor[]: ``sum_{valid n, t} w_nt * bce_nt / (num_valid * T)``; 0 when nothing is valid.
    """
    if logits.shape != targets.shape or logits.shape[:-1] != scores.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and scores "
            f"{tuple(scores.shape)} must have shapes [..., N, T], [..., N, T], [..., N]"
        )
    pos_weight = check_float("pos_weight", pos_weight, low=0.0, high_open=True)
    if valid is not None and (not isinstance(valid, Tensor) or valid.dtype != torch.bool):
        raise ValueError(f"valid must be a bool tensor, got {getattr(valid, 'dtype', valid)!r}")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    z = logits.to(dtype)  # [..., N, T]
    s0 = scores.to(dtype).clamp(0.0, 1.0)[..., None]  # [..., N, 1]
    t = targets.to(dtype)  # [..., N, T]
    tiny = torch.finfo(dtype).tiny
    log_s0 = torch.log(s0.clamp(min=tiny))  # [..., N, 1]
    log_1m_s0 = torch.log1p(-s0.clamp(max=1.0 - torch.finfo(dtype).eps))  # [..., N, 1]
    log_p = (log_s0 + F.logsigmoid(z)).clamp(min=LOG_MIN)  # [..., N, T]
    log_1m_p = torch.logaddexp(log_1m_s0, log_s0 + F.logsigmoid(-z)).clamp(min=LOG_MIN)
    loss = -(pos_weight * t * log_p + (1.0 - t) * log_1m_p)  # [..., N, T]
    if valid is None:
        return loss.mean()
    loss = torch.where(valid[..., None], loss, torch.zeros_like(loss))  # [..., N, T]
    count = valid.sum().to(dtype) * loss.shape[-1]
    return loss.sum() / count.clamp(min=1.0)
