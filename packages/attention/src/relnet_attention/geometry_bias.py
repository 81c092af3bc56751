"""The geometry weight of Eq. (5) as an additive attention bias, for a chunk of query rows.

``log(max(w_G, 1e-6))`` with ``w_G = max(0, W_G · E_G)`` enters the softmax of Eq. (3) as a bias
(the authors' ``weighted_aff``). ``E_G`` is ``relnet_geometry.geometry_embedding``; it is computed
here channels-first (``[B, d_g, C N]``) and ``W_G`` is split into the columns that multiply sines
and those that multiply cosines, so that neither the concatenation of the embedding nor a permute
of the ``[B, C, N, N_r]`` projection is ever materialised and ``W_G · E_G`` lands directly in the
``[B, N_r, C, N]`` layout of the attention bias.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relnet_geometry import relative_geometry
from relnet_geometry.embedding import GEOMETRY_SCALE, inverse_frequencies

MIN_WEIGHT = 1e-6  # w_G is clamped here before the log, as in the authors' code


def geometry_log_weight(
    query_boxes: Tensor, boxes: Tensor, proj: nn.Linear, geo_dim: int
) -> Tensor:
    """``log(max(W_G · E_G, 1e-6))`` for a chunk of query rows.

    Args:
        query_boxes (Tensor[B, C, 4]): the chunk's query boxes ``(x1, y1, x2, y2)``.
        boxes (Tensor[B, N, 4]): all key boxes.
        proj (nn.Linear): ``W_G``, ``geo_dim -> Nr``; its input is ``geometry_embedding``'s layout
            (for each of the 4 relative coordinates, ``d_g / 8`` sines then ``d_g / 8`` cosines).
        geo_dim (int): ``d_g``, divisible by 8.

    Returns:
        Tensor[B, Nr, C, N]: the bias (row = query, column = key), in ``proj``'s output dtype.
    """
    with torch.autocast(query_boxes.device.type, enabled=False):  # float32 at least, always
        return _log_weight(query_boxes, boxes, proj, geo_dim)


def _log_weight(query_boxes: Tensor, boxes: Tensor, proj: nn.Linear, geo_dim: int) -> Tensor:
    b, c, n = query_boxes.shape[0], query_boxes.shape[1], boxes.shape[1]
    nr, half = proj.out_features, geo_dim // 8
    weight = proj.weight.view(nr, 4, 2, half)  # [Nr, 4 inputs, sin|cos, dg/8]
    dtype = weight.dtype
    # Centre offsets: sinusoids of every pair, as in geometry_embedding.
    rel = relative_geometry(query_boxes, boxes)[..., :2]  # [B, C, N, 2], float32 or float64
    inv_freq = inverse_frequencies(4, geo_dim, 1000.0, rel.dtype, rel.device)  # [dg/8]
    angle = (GEOMETRY_SCALE * rel)[..., None] * inv_freq  # [B, C, N, 2, dg/8]
    w_sin = weight[:, :2, 0].reshape(1, nr, 2 * half).expand(b, -1, -1)  # [B, Nr, dg/4]
    w_cos = weight[:, :2, 1].reshape(1, nr, 2 * half).expand(b, -1, -1)  # [B, Nr, dg/4]
    # Transposed views: the matrix products read [C*N, dg/4] as [dg/4, C*N] without a copy.
    sin = angle.sin().to(dtype).view(b, c * n, 2 * half).transpose(1, 2)  # [B, dg/4, C*N]
    if proj.bias is None:
        out = torch.bmm(w_sin, sin)  # [B, Nr, C*N]
    else:
        out = torch.baddbmm(proj.bias[None, :, None].to(dtype), w_sin, sin)  # [B, Nr, C*N]
    del sin
    cos = angle.cos().to(dtype).view(b, c * n, 2 * half).transpose(1, 2)  # [B, dg/4, C*N]
    del angle
    out = out.baddbmm_(w_cos, cos).view(b, nr * c, n)  # [B, Nr*C, N]
    # Size ratios: log(w_i / w_j) = log w_i - log w_j, so sin and cos of the pair's angle expand
    # into products of per-box sines and cosines and their W_G term is one matrix product.
    left, right = _size_ratio_factors(query_boxes, boxes, weight[:, 2:], inv_freq)
    out = out.baddbmm_(left, right)  # [B, Nr*C, N]
    return out.clamp_(min=MIN_WEIGHT).log_().view(b, nr, c, n)  # [B, Nr, C, N]


def _size_ratio_factors(
    query_boxes: Tensor, boxes: Tensor, weight: Tensor, inv_freq: Tensor
) -> tuple[Tensor, Tensor]:
    """Factors ``L [B, Nr*C, dg/2]`` and ``R [B, dg/2, N]`` with ``L @ R`` the size-ratio part
    of ``W_G · E_G``: ``a sin(x_i - y_j) + b cos(x_i - y_j) =
    cos y_j (a sin x_i + b cos x_i) + sin y_j (b sin x_i - a cos x_i)``."""
    b, c, n = query_boxes.shape[0], query_boxes.shape[1], boxes.shape[1]
    nr, half = weight.shape[0], weight.shape[-1]
    w_sin, w_cos = weight[:, None, :, 0], weight[:, None, :, 1]  # [Nr, 1, 2, dg/8] each
    scaled = GEOMETRY_SCALE * inv_freq  # [dg/8]
    x = _log_size(query_boxes, inv_freq.dtype)[..., None] * scaled  # [B, C, 2, dg/8]
    y = _log_size(boxes, inv_freq.dtype)[..., None] * scaled  # [B, N, 2, dg/8]
    sin_x, cos_x = x.sin().to(weight.dtype)[:, None], x.cos().to(weight.dtype)[:, None]
    on_cos = w_sin * sin_x + w_cos * cos_x  # [B, Nr, C, 2, dg/8]
    on_sin = w_cos * sin_x - w_sin * cos_x  # [B, Nr, C, 2, dg/8]
    left = torch.cat([on_cos, on_sin], dim=-2).reshape(b, nr * c, 4 * half)  # [B, Nr*C, dg/2]
    right = torch.cat([y.cos(), y.sin()], dim=-2).to(weight.dtype)  # [B, N, 4, dg/8]
    return left, right.reshape(b, n, 4 * half).transpose(1, 2)  # [B, dg/2, N]


def _log_size(boxes: Tensor, dtype: torch.dtype) -> Tensor:
    """``log`` of width and height clamped to the dtype's epsilon, as in ``relative_geometry``."""
    size = (boxes[..., 2:] - boxes[..., :2]).to(dtype)  # [B, N, 2]
    return size.clamp(min=torch.finfo(dtype).eps).log()
