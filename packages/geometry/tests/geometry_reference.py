"""Slow references written from the numerical contract in DESIGN.md, one element at a time.

Each function loops in Python over plain floats (``math``), so it shares no code and no
vectorisation trick with ``relnet_geometry``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def ref_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of every pair ``[N, 4] x [M, 4] -> [N, M]``; zero-size boxes have area 0, 0/0 is 0."""
    out = torch.zeros(len(boxes1), len(boxes2), dtype=torch.float64)
    for i, (ax1, ay1, ax2, ay2) in enumerate(boxes1.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(boxes2.tolist()):
            area_a = max(ax2 - ax1, 0.0) * max(ay2 - ay1, 0.0)
            area_b = max(bx2 - bx1, 0.0) * max(by2 - by1, 0.0)
            iw = max(min(ax2, bx2) - max(ax1, bx1), 0.0)
            ih = max(min(ay2, by2) - max(ay1, by1), 0.0)
            union = area_a + area_b - iw * ih
            out[i, j] = iw * ih / union if union > 0 else 0.0
    return out


def ref_relative_geometry(boxes: Tensor) -> Tensor:
    """Entry ``[i, j]``: ``(log max(|cx_i - cx_j| / w_i, 1e-3), log max(|cy_i - cy_j| / h_i, 1e-3),
    log(w_i / w_j), log(h_i / h_j))`` with ``w = x2 - x1``; boxes of positive size only."""
    rows = boxes.tolist()
    out = torch.zeros(len(rows), len(rows), 4, dtype=torch.float64)
    for i, (x1i, y1i, x2i, y2i) in enumerate(rows):
        for j, (x1j, y1j, x2j, y2j) in enumerate(rows):
            wi, hi, wj, hj = x2i - x1i, y2i - y1i, x2j - x1j, y2j - y1j
            cxi, cyi = (x1i + x2i) / 2, (y1i + y2i) / 2
            cxj, cyj = (x1j + x2j) / 2, (y1j + y2j) / 2
            out[i, j, 0] = math.log(max(abs(cxi - cxj) / wi, 1e-3))
            out[i, j, 1] = math.log(max(abs(cyi - cyj) / hi, 1e-3))
            out[i, j, 2] = math.log(wi / wj)
            out[i, j, 3] = math.log(hi / hj)
    return out


def ref_sinusoid_embedding(
    x: Tensor, dim: int, wave_length: float = 1000.0, scale: float = 1.0
) -> Tensor:
    """``[..., K] -> [..., dim]``: for each input k in order, ``dim/(2K)`` sines then ``dim/(2K)``
    cosines of ``scale * x_k / wave_length ** (2K j / dim)``."""
    k = x.shape[-1]
    flat = x.reshape(-1, k).tolist()
    out = torch.zeros(len(flat), dim, dtype=torch.float64)
    n = dim // (2 * k)
    for row, values in enumerate(flat):
        col = 0
        for value in values:
            angles = [scale * value / wave_length ** (2 * k * j / dim) for j in range(n)]
            for angle in angles:
                out[row, col] = math.sin(angle)
                col += 1
            for angle in angles:
                out[row, col] = math.cos(angle)
                col += 1
    return out.reshape(*x.shape[:-1], dim)


def random_boxes(n: int, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` boxes ``(x1, y1, x2, y2)`` in a 1000-pixel image with sizes from 1 to 300 pixels."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 700
    wh = 1 + torch.rand(n, 2, generator=gen, dtype=torch.float64) * 299
    return torch.cat([xy, xy + wh], dim=1).to(dtype)  # [n, 4]
