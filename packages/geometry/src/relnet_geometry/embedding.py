"""Sinusoid embeddings of geometry (paper §3, Eq. 5, after [49]) and of score ranks (§4.3)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import compute_dtype
from .boxes import relative_geometry

# geometry_embedding multiplies the relative geometry by this before the sinusoid (authors' code).
GEOMETRY_SCALE = 100.0  # the scale of geometry_embedding's angles (the authors' 100)


def sinusoid_embedding(
    x: Tensor, dim: int, wave_length: float = 1000.0, scale: float = 1.0
) -> Tensor:
    """Embed each of the K inputs with ``dim / (2K)`` sines then ``dim / (2K)`` cosines.

    For input ``k`` and ``j = 0 .. dim/(2K) - 1`` the angle is
    ``scale * x_k / wave_length ** (2K * j / dim)``; the output lays out, for each input in order,
    its sines and then its cosines (the authors' ``extract_position_embedding`` layout).
    Half-precision inputs are computed in float32 and returned in their own dtype; integer inputs
    give the default float dtype.

    Args:
        x (Tensor[..., K]): values to embed.
        dim (int): output size, divisible by ``2K``.
        wave_length (float): the longest wave length.
        scale (float): multiplies ``x`` before the division.

    Returns:
        Tensor[..., dim]: the embedding.
    """
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have shape [..., K] with K >= 1, got {tuple(x.shape)}")
    k = x.shape[-1]
    if dim <= 0 or dim % (2 * k) != 0:
        raise ValueError(f"dim must be a positive multiple of 2K = {2 * k}, got {dim}")
    out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    dtype = compute_dtype(out_dtype)
    inv_freq = inverse_frequencies(k, dim, wave_length, dtype, x.device)  # [n]
    angle = (scale * x.to(dtype))[..., None] * inv_freq  # [..., K, n]
    emb = torch.cat([angle.sin(), angle.cos()], dim=-1)  # [..., K, 2n]
    return emb.flatten(-2).to(out_dtype)  # [..., dim]


def inverse_frequencies(
    num_inputs: int, dim: int, wave_length: float, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``wave_length ** -(2K j / dim)`` for ``j = 0 .. dim/(2K) - 1``, ``K = num_inputs``.

    Returns:
        Tensor[dim / (2K)]: the factors that multiply ``scale * x_k`` in :func:`sinusoid_embedding`.
    """
    n = dim // (2 * num_inputs)
    exponent = torch.arange(n, device=device, dtype=dtype) * (2 * num_inputs / dim)  # [n]
    return wave_length ** (-exponent)  # [n]


def geometry_embedding(boxes: Tensor, dim: int = 64, key_boxes: Tensor | None = None) -> Tensor:
    """``E_G`` of Eq. (5): the relative geometry of every pair, embedded with scale 100.

    Args:
        boxes (Tensor[..., N, 4]): query boxes ``(x1, y1, x2, y2)``.
        dim (int): embedding size ``d_g``, divisible by 8.
        key_boxes (Tensor[..., M, 4], optional): key boxes; ``boxes`` itself when omitted.

    Returns:
        Tensor[..., N, M, dim]: ``sinusoid_embedding(relative_geometry(boxes), dim, scale=100.0)``.
    """
    return sinusoid_embedding(relative_geometry(boxes, key_boxes), dim, scale=GEOMETRY_SCALE)


def rank_embedding(ranks: Tensor, dim: int = 128) -> Tensor:
    """The rank feature of §4.3: each 0-based rank (descending score order) embedded to ``dim``.

    Args:
        ranks (Tensor[...]): ranks, integer or floating.
        dim (int): embedding size, even.

    Returns:
        Tensor[..., dim]: ``sinusoid_embedding(ranks[..., None], dim)``.
    """
    return sinusoid_embedding(ranks[..., None], dim)
