"""The object relation module: paper §3, Eq. (2)-(6) and Algorithm 1.

``f_A^n + Concat_r f_R^r(n)`` with ``f_R^r(n) = sum_m w^{mn,r} (W_V^r f_A^m)`` and
``w^{mn,r} = softmax_m(log w_G^{mn,r} + <W_K^r f_A^m, W_Q^r f_A^n> / sqrt(d_k))``, which is Eq. (3)
written as one softmax. Values are projected per relation before aggregation (``Concat_r W_V^r`` is
one ``d_f -> d_f`` linear), and the geometry weight is an additive bias, so
``scaled_dot_product_attention`` does the aggregation, a chunk of queries at a time
(:mod:`relnet_attention.chunked`). The module from precomputed projections
(:meth:`RelationModule.appearance_logits`, :meth:`RelationModule.attend`) is
:mod:`relnet_attention.precomputed`; the argument checks are :mod:`relnet_attention.validation`.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import torch
from torch import Tensor, nn

from relnet_core.checks import check_choice
from relnet_geometry import sinusoid_embedding

from .chunked import chunked_attention
from .precomputed import EXP_FLOOR, PrecomputedAttention, shifted_exp
from .validation import (
    GEOMETRIES,
    VALUE_INITS,
    Geometry,
    ValueInit,
    check_config,
    check_inputs,
)

__all__ = [
    "EXP_FLOOR",
    "GEOMETRIES",
    "VALUE_INITS",
    "Geometry",
    "RelationModule",
    "ValueInit",
    "shifted_exp",
]


class RelationModule(PrecomputedAttention, nn.Module):
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
        value_init (str): ``"normal"`` (the authors': std 0.01, like every other weight) or
            ``"zero"``: ``W_V`` starts at zero, so the module starts as the identity and the
            relation features grow from there (not in the paper; an ablation of the relation
            output's initial scale).

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
        value_init: ValueInit = "normal",
    ) -> None:
        super().__init__()
        check_config(feat_dim, num_relations, key_dim, geo_dim, geometry, chunk_size)
        check_choice("value_init", value_init, VALUE_INITS)
        self.value_init = value_init
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
        """The authors' initialisation: weights normal with std 0.01, biases zero; ``W_V`` zero
        with ``value_init="zero"``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        if self.value_init == "zero":
            nn.init.zeros_(self.value.weight)

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

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_relations, -1).transpose(1, 2)  # [B, Nr, N, d]

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_relations={self.num_relations}, "
            f"key_dim={self.key_dim}, geo_dim={self.geo_dim}, geometry={self.geometry!r}"
            + ("" if self.value_init == "normal" else f", value_init={self.value_init!r}")
        )
