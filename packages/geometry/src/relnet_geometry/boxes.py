"""Box geometry: IoU and the relative geometry feature of paper §3, Eq. (5).

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates, ``w = x2 - x1`` (torchvision's
convention; the authors' released code adds 1, this package does not).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from ._checks import check_batch_dims, check_boxes, checked_abs_max, compute_dtype


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair of boxes.

    Args:
        boxes1 (Tensor[..., N, 4]): boxes ``(x1, y1, x2, y2)``.
        boxes2 (Tensor[..., M, 4]): boxes ``(x1, y1, x2, y2)``; leading dims broadcast.

    Returns:
        Tensor[..., N, M]: IoU in ``[0, 1]``, in the dtype of ``boxes1`` and ``boxes2`` promoted
        (half types are computed in float32: their areas overflow). Boxes of zero or negative size
        have zero area, and a pair whose union is empty has IoU 0 (never NaN). Coordinates so
        large that areas would overflow (above about 1e18 in float32) or so small that they would
        underflow are first scaled by a power of two, which leaves the IoU unchanged, so the
        result is finite and correct for any finite boxes.
    """
    largest = max(checked_abs_max("boxes1", boxes1), checked_abs_max("boxes2", boxes2))
    check_batch_dims("boxes1", boxes1, "boxes2", boxes2)
    out_dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    dtype = compute_dtype(out_dtype)
    boxes1, boxes2 = boxes1.to(dtype), boxes2.to(dtype)
    # IoU is scale invariant and scaling by a power of two is exact: coordinates whose areas
    # would overflow (sides above 2^64 in float32) or underflow are brought within 2^-e .. 2^e,
    # e = 60 for float32
    limit_exp = _range_exponent(dtype)
    if largest >= 2.0**limit_exp:  # down to just below 2^e
        scale = math.ldexp(1.0, limit_exp - math.frexp(largest)[1])
        boxes1, boxes2 = boxes1 * scale, boxes2 * scale
    elif 0.0 < largest < 2.0**-limit_exp:  # up by 2^e (more could overflow the scale itself)
        scale = math.ldexp(1.0, limit_exp)
        boxes1, boxes2 = boxes1 * scale, boxes2 * scale
    area1 = _area(boxes1)  # [..., N]
    area2 = _area(boxes2)  # [..., M]
    lt = torch.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])  # [..., N, M, 2]
    rb = torch.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])  # [..., N, M, 2]
    wh = (rb - lt).clamp(min=0)  # [..., N, M, 2]
    inter = wh[..., 0] * wh[..., 1]  # [..., N, M]
    union = area1[..., :, None] + area2[..., None, :] - inter  # [..., N, M]
    # an empty union has an empty intersection: 0 / tiny, with finite gradients (no 0 / 0)
    return (inter / union.clamp(min=torch.finfo(dtype).tiny)).to(out_dtype)


@functools.cache
def _range_exponent(dtype: torch.dtype) -> int:
    """``e / 2 - 4`` where ``2^e`` bounds the dtype: areas of coordinates below ``2^(e/2 - 4)``
    (and sums of a few of them) cannot overflow."""
    return math.frexp(torch.finfo(dtype).max)[1] // 2 - 4


def _area(boxes: Tensor) -> Tensor:
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)  # [..., N, 2]
    return wh[..., 0] * wh[..., 1]


def relative_geometry(boxes: Tensor, key_boxes: Tensor | None = None) -> Tensor:
    """The 4-d relative geometry of every (query, key) pair, as in the authors' released code.

    Entry ``[i, j]`` is ``(log max(|cx_i - cx_j| / w_i, 1e-3), log max(|cy_i - cy_j| / h_i, 1e-3),
    log(w_i / w_j), log(h_i / h_j))``: row ``i`` is the object being updated (the query), column
    ``j`` the key. Widths and heights are clamped to the dtype's epsilon, so degenerate boxes (zero
    or negative size, identical boxes) give finite values. Half-precision inputs are computed in
    float32 and returned in their own dtype.

    Args:
        boxes (Tensor[..., N, 4]): query boxes ``(x1, y1, x2, y2)``.
        key_boxes (Tensor[..., M, 4], optional): key boxes; ``boxes`` itself when omitted.

    Returns:
        Tensor[..., N, M, 4]: translation- and scale-invariant relative geometry.
    """
    check_boxes("boxes", boxes)
    if key_boxes is not None:
        check_boxes("key_boxes", key_boxes)
        check_batch_dims("boxes", boxes, "key_boxes", key_boxes)
    return relative_geometry_unchecked(boxes, boxes if key_boxes is None else key_boxes)


def relative_geometry_unchecked(boxes: Tensor, key_boxes: Tensor) -> Tensor:
    """:func:`relative_geometry` without input checks, for callers that validated the boxes once
    and call it on many chunks (no host-device synchronisation per call)."""
    dtype = compute_dtype(boxes.dtype)
    eps = torch.finfo(dtype).eps
    cq, sq = _center_size(boxes.to(dtype), eps)  # [..., N, 2] each
    ck, sk = _center_size(key_boxes.to(dtype), eps)  # [..., M, 2] each
    delta = (cq[..., :, None, :] - ck[..., None, :, :]).abs()  # [..., N, M, 2]
    delta = torch.log((delta / sq[..., :, None, :]).clamp(min=1e-3))  # [..., N, M, 2]
    ratio = torch.log(sq[..., :, None, :] / sk[..., None, :, :])  # [..., N, M, 2]
    return torch.cat([delta, ratio], dim=-1).to(boxes.dtype)  # [..., N, M, 4]


def _center_size(boxes: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    center = 0.5 * (boxes[..., :2] + boxes[..., 2:])  # [..., N, 2]
    size = (boxes[..., 2:] - boxes[..., :2]).clamp(min=eps)  # [..., N, 2]
    return center, size
