"""The object relation module: paper §3, Eq. (2)-(6) and Algorithm 1.

``f_A^n + Concat_r f_R^r(n)`` with ``f_R^r(n) = sum_m w^{mn,r} (W_V^r f_A^m)`` and
``w^{mn,r} = softmax_m(log w_G^{mn,r} + <W_K^r f_A^m, W_Q^r f_A^n> / sqrt(d_k))``, which is Eq. (3)
written as one softmax. Values are projected per relation before aggregation (``Concat_r W_V^r`` is
one ``d_f -> d_f`` linear), and the geometry weight is an additive bias, so
``scaled_dot_product_attention`` does the aggregation, a chunk of queries at a time
(:mod:`relnet_attention.chunked`). :meth:`RelationModule.attend`, the module from precomputed
projections, is :mod:`relnet_attention.precomputed`; the argument checks are
:mod:`relnet_attention.validation`.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import torch
from torch import Tensor, nn

from relnet_geometry import sinusoid_embedding

from . import precomputed
from .chunked import chunked_attention
from .precomputed import EXP_FLOOR, shifted_exp
from .validation import GEOMETRIES, Geometry, check_config, check_inputs

__all__ = ["EXP_FLOOR", "GEOMETRIES", "Geometry", "RelationModule", "shifted_exp"]


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
        check_config(feat_dim, num_relations, key_dim, geo_dim, geometry, chunk_size)
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
        return precomputed.attend(self, features, values, logits, boxes, key_mask, exp_logits)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_relations, -1).transpose(1, 2)  # [B, Nr, N, d]

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_relations={self.num_relations}, "
            f"key_dim={self.key_dim}, geo_dim={self.geo_dim}, geometry={self.geometry!r}"
        )
