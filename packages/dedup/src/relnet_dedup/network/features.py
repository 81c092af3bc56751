"""The rank-derived inputs of the duplicate removal network (paper §4.3, Fig. 3b): each detection's
rank in its group (the paper's rank feature) and, not in the paper, its largest overlap with a
detection ranked above it (the overlap that Soft-NMS decays by, given to the network directly).

All on padded groups ``[G, N]`` with a valid mask; ``O(N^2)`` comparisons and no sort, so the
network's graph exports to ONNX.
"""

from __future__ import annotations

import torch
from torch import Tensor

SCORE_SCALE = 1000.0  # scores in [0, 1] are embedded as ``1000 * s0``, the range of the ranks


def ranked_before(scores: Tensor, valid: Tensor) -> Tensor:
    """``[..., i, j]``: whether valid detection ``j`` comes before ``i`` in descending score
    order (a higher score, or an equal score at a lower position).

    Args:
        scores (Tensor[G, N]), valid (Tensor[G, N], bool).

    Returns:
        Tensor[G, N, N] bool.
    """
    n = scores.shape[-1]
    pos = torch.arange(n, device=scores.device)  # [N]
    s_i, s_j = scores[..., :, None], scores[..., None, :]  # [G, N, 1], [G, 1, N]
    before = (s_j > s_i) | ((s_j == s_i) & (pos[None, :] < pos[:, None]))  # [G, N, N]
    return before & valid[..., None, :]


def higher_ranked_overlap(boxes: Tensor, before: Tensor) -> Tensor:
    """Each detection's largest IoU with a detection that comes before it (0 for none).

    Args:
        boxes (Tensor[G, N, 4]): ``(x1, y1, x2, y2)``.
        before (Tensor[G, N, N], bool): :func:`ranked_before`.

    Returns:
        Tensor[G, N]: in ``[0, 1]``.
    """
    lo = torch.maximum(boxes[..., :, None, :2], boxes[..., None, :, :2])  # [G, N, N, 2]
    hi = torch.minimum(boxes[..., :, None, 2:], boxes[..., None, :, 2:])  # [G, N, N, 2]
    inter = (hi - lo).clamp(min=0).prod(dim=-1)  # [G, N, N]
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(dim=-1)  # [G, N]
    union = area[..., :, None] + area[..., None, :] - inter  # [G, N, N]
    iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)
    return iou.masked_fill(~before, 0.0).amax(dim=-1)  # [G, N]


def descending_ranks(scores: Tensor, valid: Tensor) -> Tensor:
    """0-based rank of each detection in descending score order within its group.

    Counts, for each detection, the valid detections that come before it: a higher score, or an
    equal score at a lower position (a stable sort's order). ``O(N^2)`` comparisons, no sort, so the
    graph exports to ONNX.

    Args:
        scores (Tensor[G, N]): scores ``s0``.
        valid (Tensor[G, N], bool): False for padding, which never counts as coming before.

    Returns:
        Tensor[G, N]: integer ranks; those of valid detections are ``0 .. n_valid - 1``.
    """
    return ranked_before(scores, valid).sum(dim=-1)  # [G, N]
