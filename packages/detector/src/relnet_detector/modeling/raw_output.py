"""The box branch's raw output (paper §4.3's input): the class-specific boxes of every RoI decoded
and clipped, and every (RoI, class) above a score threshold before duplicate removal.

torchvision's ``RoIHeads.postprocess_detections`` up to (not including) ``batched_nms``: the
duplicate remover is applied afterwards
(:func:`relnet_detector.modeling.removers.remove_duplicates`) and may use the RoI's head feature,
which torchvision's post-processing does not keep.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torchvision.ops import boxes as box_ops

from .removers import RawDetections

__all__ = ["MIN_BOX_SIZE", "BoxCoder", "decode_boxes", "decode_raw"]

MIN_BOX_SIZE = 1e-2  # torchvision's post-processing drops boxes smaller than this


class BoxCoder(Protocol):
    """What decodes box deltas: torchvision's ``BoxCoder`` (``RoIHeads.box_coder``)."""

    def decode(self, rel_codes: Tensor, boxes: list[Tensor]) -> Tensor: ...


def decode_boxes(
    box_coder: BoxCoder,
    box_regression: Tensor,
    proposals: list[Tensor],
    image_shapes: list[tuple[int, int]],
    counts: list[int],
) -> Tensor:
    """Class-specific boxes ``[R, C + 1, 4]`` from the deltas, clipped to each image (by
    torchvision's ``clip_boxes_to_image``, which also follows the image size in a trace)."""
    boxes = box_coder.decode(box_regression, proposals)  # [R, C+1, 4]
    clipped = [
        box_ops.clip_boxes_to_image(b, size)
        for b, size in zip(torch.split(boxes, counts), image_shapes, strict=True)
    ]
    return torch.cat(clipped)  # [R, C+1, 4]


def decode_raw(
    box_coder: BoxCoder,
    class_logits: Tensor,
    box_regression: Tensor,
    proposals: list[Tensor],
    image_shapes: list[tuple[int, int]],
    head_features: Tensor,
    score_threshold: float,
) -> list[RawDetections]:
    """torchvision's post-processing up to (not including) ``batched_nms``: decode, clip,
    drop the background, flatten every (RoI, class), keep ``s0 > score_threshold`` and boxes
    of at least ``MIN_BOX_SIZE``.

    Args:
        box_coder (BoxCoder): the RoI heads' ``box_coder`` (its regression weights).
        class_logits (Tensor[R, C + 1]), box_regression (Tensor[R, 4 (C + 1)]): the
            predictor's output.
        proposals (list[Tensor[N_i, 4]]): the RoIs of each image.
        image_shapes (list[tuple[int, int]]): each image's ``(H, W)``.
        head_features (Tensor[R, D]): the head's feature of every RoI.
        score_threshold (float): the score threshold.
    """
    counts = [p.shape[0] for p in proposals]
    boxes: Tensor = decode_boxes(box_coder, box_regression, proposals, image_shapes, counts)
    scores = torch.softmax(class_logits, dim=-1)  # [R, C+1]
    out = []
    for b, s, f in zip(
        torch.split(boxes, counts),
        torch.split(scores, counts),
        torch.split(head_features, counts),
        strict=True,
    ):
        n, c = s.shape[0], s.shape[1] - 1
        labels = torch.arange(1, c + 1, device=s.device).expand(n, c).reshape(-1)  # [N*C]
        roi = torch.arange(n, device=s.device)[:, None].expand(n, c).reshape(-1)  # [N*C]
        flat_boxes = b[:, 1:].reshape(-1, 4)  # [N*C, 4], row r * C + c - 1
        flat_scores = s[:, 1:].reshape(-1)  # [N*C]
        keep = torch.where(flat_scores > score_threshold)[0]
        keep = keep[box_ops.remove_small_boxes(flat_boxes[keep], min_size=MIN_BOX_SIZE)]
        out.append(RawDetections(flat_boxes[keep], flat_scores[keep], labels[keep], roi[keep], f))
    return out
