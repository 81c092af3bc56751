"""The relation module from precomputed projections: :meth:`RelationModule.attend` (and
:func:`shifted_exp`), for callers that compute the box-independent part once and reuse it
(relnet-dedup's rank-only duplicate remover).

Eq. (3)'s softmax of ``log w_G + logits`` is taken as a product, ``w_G * exp(logits - c) /
sum_m (...)`` with ``c`` each row's largest logit: the same weights in exact arithmetic, without a
log or an exp per pair once ``exp(logits - c)`` is given. The sum comes out of the same matrix
product as the relation feature (Eq. 2), a column of ones appended to the values. An image whose
sums underflow is recomputed as the log-domain softmax of Eq. (3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .geometry_bias import MIN_WEIGHT, geometry_log_weight, geometry_projection

if TYPE_CHECKING:
    from .relation import RelationModule


# exp(x) for x below this is under float32's smallest normal number (1.2e-38): the vectorised
# exp takes a 30x slower path there, and a row's largest term, exp(0) = 1, makes such terms
# irrelevant to the softmax (issue 16: one image of the learned remover, 4.0 -> 2.4 ms).
EXP_FLOOR = -87.0


def shifted_exp(logits: Tensor) -> Tensor:
    """``exp(logits - c)``, ``c`` each row's largest logit, with the exponent floored at
    :data:`EXP_FLOOR`: the ``exp_logits`` that :meth:`RelationModule.attend` takes.

    Args:
        logits (Tensor[..., N, M]): e.g. :meth:`RelationModule.appearance_logits`.

    Returns:
        Tensor[..., N, M]: in ``(0, 1]``, 1 at each row's maximum.
    """
    return (logits - logits.amax(dim=-1, keepdim=True)).clamp_(min=EXP_FLOOR).exp_()


def attend(
    module: RelationModule,
    features: Tensor,
    values: Tensor,
    logits: Tensor,
    boxes: Tensor,
    key_mask: Tensor | None = None,
    exp_logits: Tensor | None = None,
) -> Tensor:
    """:meth:`RelationModule.attend` of ``module`` (arguments and shapes there).

    Returns:
        Tensor[B, N, d_f]: ``f + Concat_r f_R^r``.
    """
    b, n = boxes.shape[0], boxes.shape[1]
    nr, dv = module.num_relations, module.feat_dim // module.num_relations
    if exp_logits is None:
        exp_logits = shifted_exp(logits)  # [B|1, Nr, N, N]
    if module.geo_proj is not None:
        with torch.autocast(boxes.device.type, enabled=False):  # float32 at least
            weight = geometry_projection(boxes, boxes, module.geo_proj, module.geo_dim)
        weight = weight.clamp_(min=MIN_WEIGHT).mul_(exp_logits)  # [B, Nr, N, N]
    else:
        weight = exp_logits.expand(b, nr, n, n)  # [B, Nr, N, N]
    # The values transposed, with a row of ones for the softmax's sum; masked keys zeroed.
    v = values.reshape(-1, n, nr, dv).permute(0, 2, 3, 1)  # [B|1, Nr, dv, N]
    v = torch.cat([v, torch.ones_like(v[:, :, :1])], dim=2)  # [B|1, Nr, dv + 1, N]
    if key_mask is not None:
        v = v * key_mask[:, None, None, :].to(v.dtype)  # [B, Nr, dv + 1, N]
    # v @ weight^T: the output is N wide, not dv + 1 (much faster on small matrices).
    out = torch.matmul(v, weight.transpose(-1, -2))  # [B, Nr, dv + 1, N]
    total = out[:, :, dv:]  # [B, Nr, 1, N]
    tiny = torch.finfo(total.dtype).tiny ** (2 / 3)
    rel = (out[:, :, :dv] / total).transpose(2, 3)  # [B, Nr, N, dv]
    low = (total <= tiny).flatten(1).any(dim=1)  # [B]: underflow, or no key at all
    if bool(low.any()):
        rel = rel.clone()
        rel[low] = _log_domain(module, values, logits, boxes, key_mask, low)  # [L, Nr, N, dv]
    rel = rel.transpose(1, 2).reshape(b, n, module.feat_dim)  # [B, N, df]
    return features + rel  # [B, N, df]


def _log_domain(
    module: RelationModule,
    values: Tensor,
    logits: Tensor,
    boxes: Tensor,
    key_mask: Tensor | None,
    rows: Tensor,
) -> Tensor:
    """The relation features of the images ``rows`` (Tensor[B], bool) with a log-domain
    softmax (see :func:`attend`; an image without keys gets zeros): Tensor[L, Nr, N, dv]."""
    b, n, nr = boxes.shape[0], boxes.shape[1], module.num_relations
    logits = logits.expand(b, nr, n, n)[rows]  # [L, Nr, N, N]
    values = values.expand(b, n, module.feat_dim)[rows]  # [L, N, df]
    bias = logits.clone()
    if module.geo_proj is not None:
        bias += geometry_log_weight(boxes[rows], boxes[rows], module.geo_proj, module.geo_dim)
    has_key = torch.ones(bias.shape[0], dtype=torch.bool, device=bias.device)  # [L]
    if key_mask is not None:
        mask = key_mask[rows]  # [L, N]
        has_key = mask.any(dim=-1)  # [L]
        masked = ~(mask | ~has_key[:, None])  # [L, N]: all keys when there is none
        bias.masked_fill_(masked[:, None, None, :], float("-inf"))  # [L, Nr, N, N]
    v = values.reshape(-1, n, nr, module.feat_dim // nr).transpose(1, 2)  # [L, Nr, N, dv]
    rel = torch.matmul(torch.softmax(bias, dim=-1), v)  # [L, Nr, N, dv]
    return rel * has_key[:, None, None, None].to(rel.dtype)
