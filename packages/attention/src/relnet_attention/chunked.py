"""Attention of Eq. (3) computed ``C`` query rows at a time, each chunk recomputed in backward.

For a chunk of queries the geometry bias ``log w_G`` (Eq. 5, ``[B, Nr, C, N]``) is built from the
boxes, added to the key mask and passed to ``scaled_dot_product_attention`` (an explicit softmax on
the CPU with the geometry bias, where that is faster). When gradients are
needed each chunk (embedding, bias, softmax) runs without a graph and is recomputed in backward
(:class:`RecomputedChunk`), so nothing of size ``N x N`` is kept for backward: the live memory is
``O(C N (d_g + N_r))`` instead of the direct form's ``O(N^2 d_g)``, at the price of running each
chunk's forward twice. The recomputation is a small ``autograd.Function`` rather than
``torch.utils.checkpoint``, whose first call imports ``torch._dynamo`` (hundreds of modules, about
100 MB resident and seconds in a fresh process).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from .geometry_bias import geometry_log_weight


def attend_chunk(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    query_boxes: Tensor,
    boxes: Tensor,
    key_bias: Tensor | None,
    proj: nn.Linear | None,
    geo_dim: int,
    return_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Relation features (Eq. 2) of one chunk of queries against all keys.

    Args:
        q (Tensor[B, Nr, C, dk]): the chunk's queries.
        k (Tensor[B, Nr, N, dk]): all keys.
        v (Tensor[B, Nr, N, dv]): all values.
        query_boxes (Tensor[B, C, 4]): the chunk's boxes.
        boxes (Tensor[B, N, 4]): all boxes.
        key_bias (Tensor[B, 1, 1, N], optional): 0 for keys, ``-inf`` for masked keys.
        proj (nn.Linear, optional): ``W_G`` (``d_g -> N_r``); None for no geometry weight.
        geo_dim (int): ``d_g``.
        return_weights (bool): also return the softmax weights.

    Returns:
        tuple: Tensor[B, Nr, C, dv], the relation features, and Tensor[B, Nr, C, N], the weights
        (row = query, column = key), or None without ``return_weights``.
    """
    bias = key_bias
    if proj is not None:
        bias = geometry_log_weight(query_boxes, boxes, proj, geo_dim).to(q.dtype)  # [B,Nr,C,N]
        if key_bias is not None:
            bias = bias + key_bias  # [B, Nr, C, N]
    if not return_weights and (q.is_cuda or proj is None):
        # Fused kernels where they apply (flash attention on the CPU takes the key mask); with the
        # geometry bias the CPU falls back to a math path slower than the explicit form below.
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias), None
    b, nr, c, dk = q.shape
    n = k.shape[-2]
    qs = q.reshape(b * nr, c, dk)  # [B*Nr, C, dk]
    kt = k.reshape(b * nr, n, dk).transpose(1, 2)  # [B*Nr, dk, N]
    if bias is None:
        logits = torch.bmm(qs, kt) * dk**-0.5  # [B*Nr, C, N]
    else:
        bias = bias.expand(b, nr, c, n).reshape(b * nr, c, n)  # [B*Nr, C, N]
        logits = torch.baddbmm(bias, qs, kt, alpha=dk**-0.5)  # [B*Nr, C, N]
    weights = logits.softmax(dim=-1).view(b, nr, c, n)  # [B, Nr, C, N]
    return weights @ v, weights if return_weights else None


def chunked_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    boxes: Tensor,
    key_bias: Tensor | None,
    proj: nn.Linear | None,
    geo_dim: int,
    chunk_size: int,
    return_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """:func:`attend_chunk` over all queries, ``chunk_size`` at a time.

    Without a geometry weight there is no ``N x N`` bias to build and the whole set goes to
    ``scaled_dot_product_attention`` at once, as it does when ``N <= chunk_size``. With gradients
    enabled and several chunks, each chunk is checkpointed; with ``return_weights`` the
    ``[B, Nr, N, N]`` weights are materialised anyway, so chunks are not recomputed.

    Args:
        q (Tensor[B, Nr, N, dk]): queries.
        k (Tensor[B, Nr, N, dk]): keys.
        v (Tensor[B, Nr, N, dv]): values.
        boxes (Tensor[B, N, 4]): boxes ``(x1, y1, x2, y2)``.
        key_bias (Tensor[B, 1, 1, N], optional): 0 for keys, ``-inf`` for masked keys.
        proj (nn.Linear, optional): ``W_G``; None for no geometry weight.
        geo_dim (int): ``d_g``.
        chunk_size (int): query rows per chunk.
        return_weights (bool): also return the weights.

    Returns:
        tuple: Tensor[B, Nr, N, dv] and Tensor[B, Nr, N, N] or None.
    """
    n = q.shape[-2]
    if proj is None or n <= chunk_size:
        return attend_chunk(q, k, v, boxes, boxes, key_bias, proj, geo_dim, return_weights)
    needs_grad = any(t.requires_grad for t in (q, k, v, boxes, *proj.parameters()))
    recompute = torch.is_grad_enabled() and needs_grad and not return_weights
    b, nr, _, dv = v.shape
    rel = q.new_empty(b, nr, n, dv)  # [B, Nr, N, dv]: chunks written in place
    rel_chunks, weight_chunks = [], []
    for start in range(0, n, chunk_size):
        rows = slice(start, start + chunk_size)
        args = (q[:, :, rows], k, v, boxes[:, rows], boxes, key_bias, proj, geo_dim)
        if recompute:
            rel_chunks.append(RecomputedChunk.apply(*args, *_params(proj)))  # [B, Nr, C, dv]
        else:
            out, weights = attend_chunk(*args, return_weights)
            rel[:, :, rows] = out
            weight_chunks.append(weights)  # [B, Nr, C, N] or None
    if recompute:
        rel = torch.cat(rel_chunks, dim=2)  # [B, Nr, N, dv]
    if not return_weights:
        return rel, None
    return rel, torch.cat([w for w in weight_chunks if w is not None], dim=2)  # [B, Nr, N, N]


def _params(proj: nn.Linear) -> tuple[Tensor, ...]:
    return (proj.weight,) if proj.bias is None else (proj.weight, proj.bias)


class RecomputedChunk(torch.autograd.Function):
    """:func:`attend_chunk` (without weights) whose forward keeps no graph: backward recomputes
    the chunk with gradients and differentiates it. ``proj``'s parameters are passed as inputs
    too, so that their gradients reach them; the autocast state of the forward is restored."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        query_boxes: Tensor,
        boxes: Tensor,
        key_bias: Tensor | None,
        proj: nn.Linear,
        geo_dim: int,
        *params: Tensor,
    ) -> Tensor:
        device = q.device.type
        state = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        ctx.autocast, ctx.proj, ctx.geo_dim = state, proj, geo_dim  # type: ignore[attr-defined]
        ctx.has_bias = key_bias is not None  # type: ignore[attr-defined]
        tensors = (q, k, v, query_boxes, boxes) + (() if key_bias is None else (key_bias,))
        ctx.save_for_backward(*tensors)
        rel, _ = attend_chunk(q, k, v, query_boxes, boxes, key_bias, proj, geo_dim)
        return rel  # [B, Nr, C, dv]

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        saved: tuple[Tensor, ...] = ctx.saved_tensors  # type: ignore[attr-defined]
        proj: nn.Linear = ctx.proj  # type: ignore[attr-defined]
        device, enabled, dtype = ctx.autocast  # type: ignore[attr-defined]
        inputs = [t.detach().requires_grad_(t.requires_grad) for t in saved]
        q, k, v, query_boxes, boxes = inputs[:5]
        key_bias = inputs[5] if ctx.has_bias else None  # type: ignore[attr-defined]
        params = _params(proj)
        with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
            rel, _ = attend_chunk(q, k, v, query_boxes, boxes, key_bias, proj, ctx.geo_dim)  # type: ignore[attr-defined]
        wanted = [t for t in (*inputs, *params) if t.requires_grad]
        found = iter(torch.autograd.grad(rel, wanted, grads[0], allow_unused=True))
        out = [next(found) if t.requires_grad else None for t in inputs]
        if not ctx.has_bias:  # type: ignore[attr-defined]
            out.append(None)
        return (*out, None, None, *(next(found) if p.requires_grad else None for p in params))
