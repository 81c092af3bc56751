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
    b, c, n = query_boxes.shape[0], query_boxes.shape[1], boxes.shape[1]
    nr, half = proj.out_features, geo_dim // 8
    rel = relative_geometry(query_boxes, boxes)  # [B, C, N, 4], float32 or float64
    rel = rel.permute(0, 3, 1, 2).contiguous().view(b, 4, 1, c * n)  # [B, 4, 1, C*N]
    # geometry_embedding's frequencies (K = 4 inputs, the default wave length 1000) and scale.
    inv_freq = inverse_frequencies(4, geo_dim, 1000.0, rel.dtype, rel.device)  # [dg/8]
    angle = (GEOMETRY_SCALE * rel) * inv_freq[:, None]  # [B, 4, dg/8, C*N], as sinusoid_embedding
    weight = proj.weight.view(nr, 4, 2, half)  # [Nr, 4, sin|cos, dg/8]
    w_sin = weight[:, :, 0].reshape(1, nr, 4 * half).expand(b, -1, -1)  # [B, Nr, dg/2]
    w_cos = weight[:, :, 1].reshape(1, nr, 4 * half).expand(b, -1, -1)  # [B, Nr, dg/2]
    dtype = w_sin.dtype
    # One of sin and cos is alive at a time (when no gradient keeps them).
    sin = angle.sin().to(dtype).reshape(b, 4 * half, c * n)  # [B, dg/2, C*N]
    if proj.bias is None:
        out = torch.bmm(w_sin, sin)  # [B, Nr, C*N]
    else:
        out = torch.baddbmm(proj.bias[None, :, None], w_sin, sin)  # [B, Nr, C*N]
    del sin
    cos = angle.cos().to(dtype).reshape(b, 4 * half, c * n)  # [B, dg/2, C*N]
    del angle
    out = torch.baddbmm(out, w_cos, cos)  # [B, Nr, C*N]
    return out.clamp(min=MIN_WEIGHT).log().view(b, nr, c, n)  # [B, Nr, C, N]
