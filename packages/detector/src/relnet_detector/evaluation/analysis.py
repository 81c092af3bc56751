"""What a user reads after the summary numbers: precision-recall curves per category (from
COCOeval's own arrays) and a confusion matrix at one IoU (which class each ground-truth object was
detected as, or missed; which detections matched nothing).

Not in the paper: a diagnosis of the detector's errors, as detectron2's and ultralytics'
evaluators print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = ["ConfusionMatrix", "confusion_matrix", "precision_recall"]


def precision_recall(
    evaluator: Any, iou: float = 0.5
) -> dict[int, tuple[list[float], list[float]]]:
    """Per category id, ``(recall, precision)`` at IoU ``iou``, all areas, 100 detections: the
    interpolated curve COCOeval averages into AP (its ``eval["precision"]`` over
    ``params.recThrs``), cut where the category's recall ends; empty without ground truth."""
    thresholds = list(np.round(evaluator.params.iouThrs, 2))
    t = thresholds.index(round(iou, 2))
    precision = evaluator.eval["precision"][t, :, :, 0, -1]  # [R, K]; -1 without ground truth
    highest = evaluator.eval["recall"][t, :, 0, -1]  # [K]: the recall the detections reach
    recall = evaluator.params.recThrs  # [R]
    curves: dict[int, tuple[list[float], list[float]]] = {}
    for k, category in enumerate(evaluator.params.catIds):
        reached = (precision[:, k] > -1) & (recall <= highest[k] + 1e-12)
        curves[int(category)] = (
            [float(r) for r in recall[reached]],
            [float(p) for p in precision[reached, k]],
        )
    return curves


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts at one IoU and score threshold.

    Attributes:
        category_ids: the dataset's category ids, in the order of the rows and columns.
        counts: ``[C + 1, C + 1]``; row = ground-truth class, column = detected class; the last
            row counts detections that matched no ground truth (background), the last column
            ground truth that no detection matched (missed).
    """

    category_ids: tuple[int, ...]
    counts: np.ndarray


def confusion_matrix(
    coco: Any,
    results: Sequence[dict[str, Any]],
    image_ids: Sequence[int],
    *,
    iou: float = 0.5,
    score_threshold: float = 0.5,
) -> ConfusionMatrix:
    """Match, per image, the detections scoring at least ``score_threshold`` (highest first) to
    the ground truth of any class (crowd annotations excluded): each takes the free ground truth
    it overlaps most (ties: the first), if at IoU >= ``iou``.

    Args:
        coco: a ``pycocotools.coco.COCO`` with the ground truth.
        results: COCO results (``image_id``, ``category_id``, ``bbox`` as ``[x, y, w, h]``,
            ``score``).
        image_ids: the images to count.
        iou, score_threshold: the match's IoU and the detections' score thresholds.
    """
    ids = tuple(sorted(int(c) for c in coco.getCatIds()))
    column = {c: k for k, c in enumerate(ids)}
    counts = np.zeros((len(ids) + 1, len(ids) + 1), dtype=np.int64)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        if r["score"] >= score_threshold:
            by_image.setdefault(int(r["image_id"]), []).append(r)
    for image_id in image_ids:
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if not a["iscrowd"]]
        dets = sorted(by_image.get(int(image_id), []), key=lambda r: -r["score"])
        free = [True] * len(anns)
        if anns and dets:
            overlap = box_iou(_xyxy([d["bbox"] for d in dets]), _xyxy([a["bbox"] for a in anns]))
        for d, det in enumerate(dets):
            best, best_iou = -1, -1.0  # ties: the first ground truth
            for g in range(len(anns)):
                value = float(overlap[d, g])
                if free[g] and value >= iou and value > best_iou:
                    best, best_iou = g, value
            if best < 0:
                counts[-1, column[det["category_id"]]] += 1  # background
            else:
                free[best] = False
                counts[column[anns[best]["category_id"]], column[det["category_id"]]] += 1
        for g, ann in enumerate(anns):
            if free[g]:
                counts[column[ann["category_id"]], -1] += 1  # missed
    return ConfusionMatrix(ids, counts)


def _xyxy(boxes: Sequence[Sequence[float]]) -> torch.Tensor:
    xywh = torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)  # [N, 4]
    return torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)  # [N, 4]
