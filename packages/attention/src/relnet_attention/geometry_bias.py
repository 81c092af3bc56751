"""The geometry weight of Eq. (5) as an additive attention bias, for a chunk of query rows.

``log(max(w_G, 1e-6))`` with ``w_G = max(0, W_G · E_G)`` enters the softmax of Eq. (3) as a bias
(the authors' ``weighted_aff``). ``E_G`` is ``relnet_geometry.geometry_embedding``: for each of the
4 relative coordinates ``(log|dx|/w, log|dy|/h, log w_i/w_j, log h_i/h_j)``, ``d_g / 8`` sines then
``d_g / 8`` cosines of ``100 x / 1000^(8k/d_g)``.

Two halves, computed differently but exactly (in exact arithmetic) as ``W_G · E_G``:

* position (``dx``, ``dy``): the angles depend on the pair, so their sines and cosines are taken per
  pair; ``W_G``'s columns for sines and for cosines are each applied as one matrix product that
  reads the ``[B, C N, d_g / 4]`` sines (then cosines) transposed, landing directly in the
  ``[B, N_r, C, N]`` layout of the bias.
* size ratio (``dw``, ``dh``): the angle is ``a_i - a_j`` with ``a = 100 f log w`` per box, and
  ``sin(a_i - a_j) = sin a_i cos a_j - cos a_i sin a_j``, ``cos(a_i - a_j) = cos a_i cos a_j +
  sin a_i sin a_j``; so ``sum_k Ws_k sin(a_i - a_j) + Wc_k cos(a_i - a_j) = Q_i^r · K_j`` with
  per-box ``K_j = [sin a_j, cos a_j]`` and, per relation r, ``Q_i^r = [Wc sin a_i - Ws cos a_i,
  Ws sin a_i + Wc cos a_i]``: one matrix product ``[N_r C, d_g/2] @ [d_g/2, N]`` per image that
  lands in the bias's layout, and no per-pair transcendental. The per-box angles are taken in
  float64 (they reach hundreds of radians): this half is more accurate than the direct float32
  form.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relnet_geometry import GEOMETRY_SCALE, inverse_frequencies

MIN_WEIGHT = 1e-6  # w_G is clamped here before the log, as in the authors' code
MIN_DELTA = 1e-3  # |dx| / w is clamped here before the log (relnet_geometry.relative_geometry)


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
        return geometry_projection(query_boxes, boxes, proj, geo_dim).clamp_(min=MIN_WEIGHT).log_()


def geometry_projection(
    query_boxes: Tensor, boxes: Tensor, proj: nn.Linear, geo_dim: int
) -> Tensor:
    """``W_G · E_G + b_G`` (before the ReLU and the log) for a chunk of query rows.

    Args and shapes as :func:`geometry_log_weight`; returns Tensor[B, Nr, C, N].
    """
    b, c, n = query_boxes.shape[0], query_boxes.shape[1], boxes.shape[1]
    nr, half = proj.out_features, geo_dim // 8
    weight = proj.weight.view(nr, 4, 2, half)  # [Nr, 4 inputs, sin|cos, dg/8]
    dtype = weight.dtype
    calc = torch.promote_types(boxes.dtype, torch.float32)  # float32 or float64
    eps = torch.finfo(calc).eps
    cq, sq = _center_size(query_boxes.to(calc), eps)  # [B, C, 2] each
    ck, sk = _center_size(boxes.to(calc), eps)  # [B, N, 2] each
    inv_freq = GEOMETRY_SCALE * inverse_frequencies(4, geo_dim, 1000.0, calc, cq.device)  # [dg/8]

    # Position half: log max(|c_i - c_j| / s_i, 1e-3), per pair.
    delta = (cq[:, :, None] - ck[:, None]).abs_().div_(sq[:, :, None])  # [B, C, N, 2]
    angle = delta.clamp_(min=MIN_DELTA).log_()[..., None] * inv_freq  # [B, C, N, 2, dg/8]
    del delta
    w_sin = weight[:, :2, 0].reshape(1, nr, 2 * half).expand(b, -1, -1)  # [B, Nr, dg/4]
    w_cos = weight[:, :2, 1].reshape(1, nr, 2 * half).expand(b, -1, -1)  # [B, Nr, dg/4]
    # Transposed views: the matrix products read [C*N, dg/4] as [dg/4, C*N] without a copy, and
    # one of sin and cos is alive at a time (when no gradient keeps them).
    sin = angle.sin().to(dtype).view(b, c * n, 2 * half).transpose(1, 2)  # [B, dg/4, C*N]
    if proj.bias is None:
        out = torch.bmm(w_sin, sin)  # [B, Nr, C*N]
    else:
        out = torch.baddbmm(proj.bias[None, :, None].to(dtype), w_sin, sin)  # [B, Nr, C*N]
    del sin
    cos = angle.cos().to(dtype).view(b, c * n, 2 * half).transpose(1, 2)  # [B, dg/4, C*N]
    del angle
    out = out.baddbmm_(w_cos, cos)  # [B, Nr, C*N]
    del cos

    # Size-ratio half: Q_i^r · K_j with per-box sines and cosines (see the module docstring).
    wide = torch.float64 if cq.device.type in ("cpu", "cuda") else calc
    freq = inv_freq.to(wide)  # [dg/8]
    a_q = (sq.to(wide).log()[..., None] * freq).flatten(-2)  # [B, C, dg/4]
    a_k = (sk.to(wide).log()[..., None] * freq).flatten(-2)  # [B, N, dg/4]
    sin_q, cos_q = a_q.sin().to(dtype)[:, None], a_q.cos().to(dtype)[:, None]  # [B, 1, C, dg/4]
    ws = weight[:, 2:, 0].reshape(1, nr, 1, 2 * half)  # [1, Nr, 1, dg/4]
    wc = weight[:, 2:, 1].reshape(1, nr, 1, 2 * half)  # [1, Nr, 1, dg/4]
    q_feat = torch.cat([wc * sin_q - ws * cos_q, ws * sin_q + wc * cos_q], dim=-1)  # [B,Nr,C,dg/2]
    k_feat = torch.cat([a_k.sin(), a_k.cos()], dim=-1).to(dtype)  # [B, N, dg/2]
    # [B, Nr*C, dg/2] @ [B, dg/2, N] lands in the [B, Nr, C, N] layout of ``out``.
    out = out.view(b, nr * c, n).baddbmm_(q_feat.view(b, nr * c, 4 * half), k_feat.transpose(1, 2))
    return out.view(b, nr, c, n)  # [B, Nr, C, N]


def _center_size(boxes: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Centres and sizes (clamped at ``eps``, as ``relnet_geometry.relative_geometry``'s).

    Args:
        boxes (Tensor[..., N, 4]): boxes ``(x1, y1, x2, y2)``.

    Returns:
        tuple[Tensor[..., N, 2], Tensor[..., N, 2]]: ``(cx, cy)`` and ``(w, h)``.
    """
    center = 0.5 * (boxes[..., :2] + boxes[..., 2:])  # [..., N, 2]
    size = (boxes[..., 2:] - boxes[..., :2]).clamp(min=eps)  # [..., N, 2]
    return center, size
