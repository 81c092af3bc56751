"""The relation module from precomputed projections: :meth:`RelationModule.appearance_logits`,
:meth:`RelationModule.attend` and :func:`shifted_exp`, for callers that compute the
box-independent part once and reuse it (relnet-dedup's rank-only duplicate remover).

Eq. (3)'s softmax of ``log w_G + logits`` is taken as a product, ``w_G * exp(logits - c) /
sum_m (...)`` with ``c`` each row's largest logit: the same weights in exact arithmetic, without a
log or an exp per pair once ``exp(logits - c)`` is given. The sum comes out of the same matrix
product as the relation feature (Eq. 2), a column of ones appended to the values. An image whose
sums underflow is recomputed as the log-domain softmax of Eq. (3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .geometry_bias import MIN_WEIGHT, geometry_log_weight, geometry_projection

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


class PrecomputedAttention:
    """The methods of :class:`relnet_attention.RelationModule` that work on precomputed
    projections (a base class of it; it holds no parameters of its own)."""

    feat_dim: int
    num_relations: int
    key_dim: int
    geo_dim: int
    geo_proj: nn.Linear | None

    def appearance_logits(self, queries: Tensor, keys: Tensor) -> Tensor:
        """The appearance term of Eq. (4), ``<W_K f_m, W_Q f_n> / sqrt(d_k)``, of every pair.

        With :meth:`attend`, this lets a caller compute the box-independent part of the module
        once and reuse it (the duplicate remover's rank-only input: see ``relnet_dedup``).

        Args:
            queries (Tensor[..., N, N_r d_k]): ``self.query(f)``.
            keys (Tensor[..., M, N_r d_k]): ``self.key(f)``.

        Returns:
            Tensor[..., N_r, N, M]: the scaled dot products (row = query, column = key).
        """
        lead, n, m = queries.shape[:-2], queries.shape[-2], keys.shape[-2]
        nr, dk = self.num_relations, self.key_dim
        q = queries.reshape(-1, n, nr * dk) * (1.0 / math.sqrt(dk))  # [B, N, Nr*dk]
        k = keys.reshape(-1, m, nr * dk)  # [B, M, Nr*dk]
        if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad):
            q4 = q.view(-1, n, nr, dk).transpose(1, 2)  # [B, Nr, N, dk]
            logits: Tensor = torch.matmul(q4, k.view(-1, m, nr, dk).permute(0, 2, 3, 1))
            return logits.reshape(*lead, nr, n, m)  # [..., Nr, N, M]
        # One product per relation on strided column blocks: no transposed copy of q or k.
        out = q.new_empty(nr, q.shape[0], n, m)  # [Nr, B, N, M]
        for r in range(nr):
            block = slice(r * dk, (r + 1) * dk)
            torch.bmm(q[..., block], k[..., block].transpose(1, 2), out=out[r])  # [B, N, M]
        return out.transpose(0, 1).reshape(*lead, nr, n, m)  # [..., Nr, N, M]

    def attend(
        self,
        features: Tensor,
        values: Tensor,
        logits: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        *,
        exp_logits: Tensor | None = None,
    ) -> Tensor:
        """Eq. (6) from precomputed projections: ``f + Concat_r softmax_m(logits + log w_G) v``.

        Equals :meth:`forward` when ``values = self.value(f)`` and ``logits =
        self.appearance_logits(self.query(f), self.key(f))`` (for ``geometry`` ``"pairwise"`` or
        ``"none"``; ``"unary"`` adds the boxes' embedding to ``f`` first). The whole
        ``[B, N_r, N, N]`` attention is materialised at once, without chunks: meant for
        inference on small sets (a few hundred objects), with batch dimensions of size 1
        broadcast.

        The softmax is taken as a product, ``w_G * exp(logits - c) / sum_m (...)`` with
        ``c`` the row's largest logit, so no pair needs a log or an exp once ``exp_logits`` is
        given; the sum comes out of the same matrix product as the relation feature (a column of
        ones appended to the values, zeroed for masked keys). An image where some row's sum
        is tiny (below ``tiny^(2/3)`` of the dtype: the exps underflowed) is recomputed as a
        log-domain softmax from ``logits``.

        Args:
            features (Tensor[B or 1, N, d_f]): ``f``, the residual.
            values (Tensor[B or 1, N, d_f]): ``self.value(f)``.
            logits (Tensor[B or 1, N_r, N, N]): the appearance logits (row = query).
            boxes (Tensor[B, N, 4]): boxes ``(x1, y1, x2, y2)``, finite (not checked here).
            key_mask (Tensor[B, N], bool, optional): True where an object may serve as a key.
            exp_logits (Tensor[B or 1, N_r, N, N], optional): ``exp(logits - c)`` for any
                ``c[..., N_r, N, 1]`` (each row's maximum keeps it finite), precomputed by a
                caller that reuses it; computed here when omitted.

        Returns:
            Tensor[B, N, d_f]: ``f + Concat_r f_R^r``.
        """
        b, n = boxes.shape[0], boxes.shape[1]
        nr, dv = self.num_relations, self.feat_dim // self.num_relations
        if exp_logits is None:
            exp_logits = shifted_exp(logits)  # [B|1, Nr, N, N]
        if self.geo_proj is not None:
            with torch.autocast(boxes.device.type, enabled=False):  # float32 at least
                weight = geometry_projection(boxes, boxes, self.geo_proj, self.geo_dim)
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
            rel[low] = self._log_domain(values, logits, boxes, key_mask, low)  # [L, Nr, N, dv]
        rel = rel.transpose(1, 2).reshape(b, n, self.feat_dim)  # [B, N, df]
        return features + rel  # [B, N, df]

    def _log_domain(
        self, values: Tensor, logits: Tensor, boxes: Tensor, key_mask: Tensor | None, rows: Tensor
    ) -> Tensor:
        """The relation features of the images ``rows`` (Tensor[B], bool) with a log-domain
        softmax (see :meth:`attend`; an image without keys gets zeros): Tensor[L, Nr, N, dv]."""
        b, n, nr = boxes.shape[0], boxes.shape[1], self.num_relations
        logits = logits.expand(b, nr, n, n)[rows]  # [L, Nr, N, N]
        values = values.expand(b, n, self.feat_dim)[rows]  # [L, N, df]
        bias = logits.clone()
        if self.geo_proj is not None:
            bias += geometry_log_weight(boxes[rows], boxes[rows], self.geo_proj, self.geo_dim)
        has_key = torch.ones(bias.shape[0], dtype=torch.bool, device=bias.device)  # [L]
        if key_mask is not None:
            mask = key_mask[rows]  # [L, N]
            has_key = mask.any(dim=-1)  # [L]
            masked = ~(mask | ~has_key[:, None])  # [L, N]: all keys when there is none
            bias.masked_fill_(masked[:, None, None, :], float("-inf"))  # [L, Nr, N, N]
        v = values.reshape(-1, n, nr, self.feat_dim // nr).transpose(1, 2)  # [L, Nr, N, dv]
        rel = torch.matmul(torch.softmax(bias, dim=-1), v)  # [L, Nr, N, dv]
        return rel * has_key[:, None, None, None].to(rel.dtype)
