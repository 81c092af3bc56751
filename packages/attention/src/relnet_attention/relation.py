"""The object relation module: paper §3, Eq. (2)-(6) and Algorithm 1.

``f_A^n + Concat_r f_R^r(n)`` with ``f_R^r(n) = sum_m w^{mn,r} (W_V^r f_A^m)`` and
``w^{mn,r} = softmax_m(log w_G^{mn,r} + <W_K^r f_A^m, W_Q^r f_A^n> / sqrt(d_k))``, which is Eq. (3)
written as one softmax. Values are projected per relation before aggregation (``Concat_r W_V^r`` is
one ``d_f -> d_f`` linear), and the geometry weight is an additive bias, so
``scaled_dot_product_attention`` does the aggregation, a chunk of queries at a time
(:mod:`relnet_attention.chunked`).
"""

from __future__ import annotations

import math
from typing import Literal, overload

import torch
from torch import Tensor, nn

from relnet_geometry import sinusoid_embedding

from .chunked import chunked_attention
from .geometry_bias import MIN_WEIGHT, geometry_log_weight, geometry_projection
from .validation import check_inputs

Geometry = Literal["pairwise", "unary", "none"]
GEOMETRIES = ("pairwise", "unary", "none")


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


class RelationModule(nn.Module):
    """Object relation module (Hu et al., CVPR 2018, §3).

    Args:
        feat_dim (int): ``d_f``, the appearance feature size, divisible by ``num_relations``.
        num_relations (int): ``N_r``, the number of relations (heads).
        key_dim (int): ``d_k``, the query/key size of each relation.
        geo_dim (int): ``d_g``, the geometry embedding size (``"pairwise"``), divisible by 8.
        geometry (str): ``"pairwise"`` (Eq. 5, the paper's), ``"unary"`` (the sinusoid embedding of
            each box's own ``(x1, y1, x2, y2)`` added to the appearance feature before the queries,
            keys and values; not translation invariant) or ``"none"`` (``w_G = 1``).
        chunk_size (int): query rows per chunk with the pairwise geometry weight; each chunk's
            embedding, bias and softmax are recomputed in backward, so the memory is
            ``O(chunk_size * N * d_g)`` instead of ``O(N^2 d_g)``. 64 keeps a fresh process's
            peak resident memory under half the direct form's at N = 300 and about a quarter
            at N = 1000 (256 gave 1.1x and 0.7x: each chunk's temporaries stay in the C
            allocator's heap), at the same speed on the CPU (``bench_relation.py --fresh``).

    Example:
        >>> module = RelationModule(feat_dim=256, num_relations=4, key_dim=32, geo_dim=32)
        >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]])
        >>> module(torch.randn(2, 256), boxes).shape
        torch.Size([2, 256])
    """

    def __init__(
        self,
        feat_dim: int = 1024,
        num_relations: int = 16,
        key_dim: int = 64,
        geo_dim: int = 64,
        geometry: Geometry = "pairwise",
        chunk_size: int = 64,
    ) -> None:
        super().__init__()
        if geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
        for name, value in [
            ("feat_dim", feat_dim),
            ("num_relations", num_relations),
            ("key_dim", key_dim),
            ("geo_dim", geo_dim),
            ("chunk_size", chunk_size),
        ]:
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if feat_dim % num_relations != 0:
            raise ValueError(
                f"feat_dim ({feat_dim}) must be divisible by num_relations ({num_relations})"
            )
        if geometry == "pairwise" and geo_dim % 8 != 0:
            raise ValueError(f"geo_dim must be divisible by 8, got {geo_dim}")
        if geometry == "unary" and feat_dim % 8 != 0:
            raise ValueError(f"feat_dim must be divisible by 8 for unary geometry, got {feat_dim}")
        self.feat_dim = feat_dim
        self.num_relations = num_relations
        self.key_dim = key_dim
        self.geo_dim = geo_dim
        self.geometry = geometry
        self.chunk_size = chunk_size
        self.query = nn.Linear(feat_dim, num_relations * key_dim)  # Concat_r W_Q^r
        self.key = nn.Linear(feat_dim, num_relations * key_dim)  # Concat_r W_K^r
        self.value = nn.Linear(feat_dim, feat_dim)  # Concat_r W_V^r, each d_f -> d_f / N_r
        self.geo_proj = nn.Linear(geo_dim, num_relations) if geometry == "pairwise" else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The authors' initialisation: weights normal with std 0.01, biases zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    @overload
    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        return_weights: Literal[False] = False,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        *,
        return_weights: Literal[True],
    ) -> tuple[Tensor, Tensor]: ...

    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Update every object's feature with its relation features (Eq. 6).

        Args:
            features (Tensor[..., N, d_f]): appearance features ``f_A``, in the dtype of the
                module's weights (any floating dtype under ``torch.autocast``).
            boxes (Tensor[..., N, 4]): boxes ``(x1, y1, x2, y2)`` in pixels, finite.
            key_mask (Tensor[..., N], bool, optional): True where an object may serve as a key.
                Padding and the ground-truth boxes appended in training are False: they are still
                updated as queries but influence no one. An image whose keys are all masked
                returns its features unchanged.
            return_weights (bool): also return the relation weights ``w^{mn}`` of Eq. (3).

        Returns:
            Tensor[..., N, d_f]: ``f_A + Concat_r f_R^r``; with ``return_weights``, also
            Tensor[..., N_r, N, N], the weights (row = query n, column = key m, rows sum to 1).
        """
        check_inputs(features, boxes, key_mask, self.feat_dim, self.query.weight.dtype)
        lead, n = features.shape[:-2], features.shape[-2]
        b = math.prod(lead)  # 1 when unbatched; -1 in reshape fails for N = 0
        x = features.reshape(b, n, self.feat_dim)  # [B, N, df]
        boxes = boxes.reshape(b, n, 4)  # [B, N, 4]
        mask = None if key_mask is None else key_mask.reshape(b, n)  # [B, N]
        if n == 0 or b == 0:
            out = features.clone()
            empty = features.new_zeros(*lead, self.num_relations, n, n)
            return (out, empty) if return_weights else out

        if self.geometry == "unary":
            x_in = x + sinusoid_embedding(boxes, self.feat_dim).to(x.dtype)  # [B, N, df]
        else:
            x_in = x
        q = self._heads(self.query(x_in))  # [B, Nr, N, dk]
        k = self._heads(self.key(x_in))  # [B, Nr, N, dk]
        v = self._heads(self.value(x_in))  # [B, Nr, N, df/Nr]

        key_bias = None
        has_key = None
        if mask is not None:
            has_key = mask.any(dim=-1)  # [B]
            # An image with no key at all attends everywhere and its output is zeroed below.
            mask = mask | ~has_key[:, None]  # [B, N]
            key_bias = torch.zeros(b, 1, 1, n, dtype=q.dtype, device=q.device)
            key_bias = key_bias.masked_fill(~mask[:, None, None, :], float("-inf"))  # [B,1,1,N]
        rel, weights = chunked_attention(
            q, k, v, boxes, key_bias, self.geo_proj, self.geo_dim, self.chunk_size, return_weights
        )  # [B, Nr, N, df/Nr], [B, Nr, N, N] or None
        rel = rel.transpose(1, 2).reshape(b, n, self.feat_dim)  # [B, N, df]
        if has_key is not None:
            rel = rel * has_key[:, None, None].to(rel.dtype)  # [B, N, df]
        out = (x + rel).reshape(features.shape)  # [..., N, df]
        if weights is None:
            return out
        if has_key is not None:
            weights = weights * has_key[:, None, None, None].to(weights.dtype)
        return out, weights.reshape(*lead, self.num_relations, n, n)

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

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_relations, -1).transpose(1, 2)  # [B, Nr, N, d]

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_relations={self.num_relations}, "
            f"key_dim={self.key_dim}, geo_dim={self.geo_dim}, geometry={self.geometry!r}"
        )
