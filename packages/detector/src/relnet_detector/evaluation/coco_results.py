"""Detections as COCO results: ``{image_id, category_id, bbox: [x, y, w, h], score}`` with the
dataset's own category ids, the one conversion between the detector's output and ``COCOeval``
(:func:`relnet_detector.evaluate`, the per-epoch val of training, the benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from relnet_dedup import to_coco_results

__all__ = ["category_lookup", "coco_detections"]


def coco_detections(
    image_id: int, det: dict[str, Tensor], to_category: Callable[[int], int]
) -> list[dict[str, Any]]:
    """One image's detections as COCO results (:func:`relnet_dedup.to_coco_results`) with the
    dataset's category ids, boxes rounded to 1/1000 pixel and scores to 6 decimals (the files
    stay small; COCOeval sees the same numbers as the files)."""
    boxes = det["boxes"].detach().float().cpu()  # [K, 4]
    ids = torch.tensor([to_category(int(label)) for label in det["labels"].tolist()])  # [K]
    results = to_coco_results(image_id, boxes, det["scores"].detach().cpu(), ids)
    for result in results:
        result["bbox"] = [round(v, 3) for v in result["bbox"]]
        result["score"] = round(result["score"], 6)
    return results


def category_lookup(categories: Any) -> Callable[[int], int]:
    """``label -> dataset category id`` of a ``CategoryMap`` (its ``category_id``) or of a
    sequence whose entry ``k`` is the id of label ``k + 1``."""
    if hasattr(categories, "category_id"):
        lookup: Callable[[int], int] = categories.category_id
        return lookup
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise ValueError(
            "categories must be a CategoryMap or a sequence of category ids (label k + 1 -> "
            f"entry k), got {type(categories).__name__}"
        )
    ids = [int(c) for c in categories]

    def lookup_list(label: int) -> int:
        if not 1 <= label <= len(ids):
            raise ValueError(f"label {label} has no category id: categories holds {len(ids)}")
        return ids[label - 1]

    return lookup_list
