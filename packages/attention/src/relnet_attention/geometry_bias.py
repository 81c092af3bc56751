"""The geometry weight of Eq. (5) as an additive attention bias, for a chunk of query rows.

``log(max(w_G, 1e-6))`` with ``w_G = max(0, W_G · E_G)`` enters the softmax of Eq. (3) as a bias
(the authors' ``weighted_aff``). ``E_G`` is ``relnet_geometry.geometry_embedding``; ``W_G`` is split
into the columns that multiply sines and those that multiply cosines, and each half is applied as a
matrix product that reads the ``[B, C N, d_g / 2]`` sines (then cosines) transposed, so neither the
concatenated embedding nor a permute of the ``[B, C, N, N_r]`` projection is ever materialised and
``W_G · E_G`` lands directly in the ``[B, N_r, C, N]`` layout of the attention bias.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relnet_geometry import GEOMETRY_SCALE, inverse_frequencies, relative_geometry_unchecked

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
    rel = relative_geometry_unchecked(query_boxes, boxes)  # [B, C, N, 4], float32 or float64
    inv_freq = inverse_frequencies(4, geo_dim, 1000.0, rel.dtype, rel.device)  # [dg/8]
    angle = (GEOMETRY_SCALE * rel)[..., None] * inv_freq  # [B, C, N, 4, dg/8]
    w_sin = weight[:, :, 0].reshape(1, nr, 4 * half).expand(b, -1, -1)  # [B, Nr, dg/2]
    w_cos = weight[:, :, 1].reshape(1, nr, 4 * half).expand(b, -1, -1)  # [B, Nr, dg/2]
    # Transposed views: the matrix products read [C*N, dg/2] as [dg/2, C*N] without a copy, and
    # one of sin and cos is alive at a time (when no gradient keeps them).
    sin = angle.sin().to(dtype).view(b, c * n, 4 * half).transpose(1, 2)  # [B, dg/2, C*N]
    if proj.bias is None:
        out = torch.bmm(w_sin, sin)  # [B, Nr, C*N]
    else:
        out = torch.baddbmm(proj.bias[None, :, None].to(dtype), w_sin, sin)  # [B, Nr, C*N]
    del sin
    cos = angle.cos().to(dtype).view(b, c * n, 4 * half).transpose(1, 2)  # [B, dg/2, C*N]
    del angle
    out = out.baddbmm_(w_cos, cos)  # [B, Nr, C*N]
    return out.clamp_(min=MIN_WEIGHT).log_().view(b, nr, c, n)  # [B, Nr, C, N]
