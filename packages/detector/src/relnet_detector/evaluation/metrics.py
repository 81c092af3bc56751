"""COCO metrics of one set of detections: COCOeval's 12 numbers, AP per category, and the crowd
numbers that tell duplicate removers apart.

Crowds are found from the ground truth alone, so they exist in any COCO dataset: a crowd member
is a (non-``iscrowd``) ground truth whose IoU with another ground truth of its class in its image
is at least :data:`CROWD_IOU` (Adaptive NMS's density, Liu et al. 2019: an object's largest IoU
with another ground truth). A crowd scene is an image holding a crowd member. Per-class greedy
NMS at 0.5 deletes one member of every such pair above 0.5. Reported:

- ``crowd_AP``, ``crowd_AP50``, ``crowd_AP75``: COCOeval restricted to the crowd scenes;
- ``crowd_recall50``, ``crowd_recall75``: the fraction of crowd members that COCOeval matches to
  a kept detection at IoU 0.5 / 0.75 (its own greedy matching by score, 100 detections per image).

On the built-in benchmark these are exactly its crowd groups (every pair inside a group overlaps
at IoU 0.40-0.70, any other pair at most 0.25).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relnet_dedup import coco_eval

__all__ = [
    "CROWD_IOU",
    "CROWD_NAMES",
    "STAT_NAMES",
    "CocoMetrics",
    "Crowds",
    "coco_metrics",
    "coco_stats",
    "find_crowds",
    "run_cocoeval",
]

# COCOeval.stats in order: AP@[.5:.95], AP@.5, AP@.75, AP small/medium/large, AR@1/10/100 dets,
# AR small/medium/large
STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
"""The names of ``COCOeval.stats``' 12 numbers, in order (``AP`` = mAP@[.5:.95], ``AP50``,
``AP75``, ``APs``/``APm``/``APl`` by area, ``AR1``/``AR10``/``AR100`` by detections per image,
``ARs``/``ARm``/``ARl``): the keys of :attr:`RemoverResult.stats` and of ``relnet eval``'s table."""
CROWD_IOU = 0.4  # a ground truth is a crowd member from this IoU with another of its class
CROWD_NAMES = ("crowd_AP", "crowd_AP50", "crowd_AP75", "crowd_recall50", "crowd_recall75")


@dataclass(frozen=True)
class Crowds:
    """The crowd members (annotation ids) and crowd scenes (image ids) of a ground truth."""

    members: frozenset[int]
    images: frozenset[int]


@dataclass(frozen=True)
class CocoMetrics:
    """One set of detections evaluated.

    Attributes:
        stats: COCOeval's 12 numbers by :data:`STAT_NAMES` (``AP`` = mAP@[.5:.95]).
        per_category: AP@[.5:.95] per dataset category id (NaN for a category without ground
            truth in the images).
        crowd: :data:`CROWD_NAMES` (NaN where the images hold no crowd).
        per_category50, per_category75: AP at IoU 0.5 and at 0.75 per category id (what COCOeval
            gives as AP50 / AP75 with ``params.catIds`` set to that category alone).
    """

    stats: dict[str, float]
    per_category: dict[int, float]
    crowd: dict[str, float]
    per_category50: dict[int, float] = field(default_factory=dict)
    per_category75: dict[int, float] = field(default_factory=dict)


def find_crowds(
    coco: Any, image_ids: Sequence[int] | None = None, iou: float = CROWD_IOU
) -> Crowds:
    """The crowd members and scenes of ``coco`` (a ``pycocotools.coco.COCO``) among
    ``image_ids`` (all images if None)."""
    from pycocotools import mask

    members: set[int] = set()
    images: set[int] = set()
    for image_id in coco.getImgIds() if image_ids is None else image_ids:
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if not a["iscrowd"]]
        for category in {a["category_id"] for a in anns}:
            same = [a for a in anns if a["category_id"] == category]
            if len(same) < 2:
                continue
            boxes = [a["bbox"] for a in same]
            overlap = np.asarray(mask.iou(boxes, boxes, [0] * len(boxes)))  # [n, n], xywh
            np.fill_diagonal(overlap, 0.0)
            for a, top in zip(same, overlap.max(axis=1), strict=True):
                if top >= iou:
                    members.add(int(a["id"]))
                    images.add(int(image_id))
    return Crowds(frozenset(members), frozenset(images))


def coco_metrics(
    coco: Any,
    results: list[dict[str, Any]],
    image_ids: Sequence[int],
    crowds: Crowds | None = None,
) -> CocoMetrics:
    """Evaluate COCO results (``{image_id, category_id, bbox: [x, y, w, h], score}``) over
    ``image_ids``; ``crowds`` from :func:`find_crowds` if None. All zeros without detections."""
    ids = sorted(set(image_ids))
    crowds = find_crowds(coco, ids) if crowds is None else crowds
    evaluator = run_cocoeval(coco, results, ids)
    crowd_ids = sorted(crowds.images & set(ids))
    nan = float("nan")
    crowd = dict.fromkeys(CROWD_NAMES, nan)
    if evaluator is None:
        stats = dict.fromkeys(STAT_NAMES, 0.0)
        per_category = {int(c): 0.0 for c in coco.getCatIds()}
        if crowd_ids:
            crowd = dict.fromkeys(CROWD_NAMES, 0.0)
        return CocoMetrics(stats, per_category, crowd, dict(per_category), dict(per_category))
    stats = {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats, strict=True)}
    if crowd_ids:
        scenes = run_cocoeval(coco, results, crowd_ids)
        assert scenes is not None
        crowd.update(crowd_AP=scenes.stats[0], crowd_AP50=scenes.stats[1])
        crowd["crowd_AP75"] = float(scenes.stats[2])
        crowd.update(_member_recall(evaluator, crowds.members))
    return CocoMetrics(
        stats,
        _per_category(evaluator),
        {k: float(v) for k, v in crowd.items()},
        _per_category(evaluator, iou=0.5),
        _per_category(evaluator, iou=0.75),
    )


def coco_stats(
    coco: Any, results: list[dict[str, Any]], image_ids: Sequence[int]
) -> dict[str, float]:
    """COCOeval's 12 numbers (bbox) over ``image_ids``; all 0 without any detection."""
    evaluator = run_cocoeval(coco, results, sorted(set(image_ids)))
    if evaluator is None:
        return dict.fromkeys(STAT_NAMES, 0.0)
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats, strict=True)}


def run_cocoeval(coco: Any, results: list[dict[str, Any]], image_ids: list[int]) -> Any:
    """pycocotools' ``COCOeval`` (bbox) over ``image_ids``, evaluated, accumulated and summarised
    quietly (:func:`relnet_dedup.coco_eval`); None without results or images."""
    if not results or not image_ids:
        return None
    return coco_eval(coco, results, image_ids=image_ids)


def _per_category(evaluator: Any, iou: float | None = None) -> dict[int, float]:
    """AP per category id over every IoU threshold, or at ``iou`` alone."""
    precision = evaluator.eval["precision"]  # [T, R, K, A, M]
    if iou is not None:
        thresholds = list(np.round(evaluator.params.iouThrs, 2))
        precision = precision[thresholds.index(iou) : thresholds.index(iou) + 1]  # [1, R, K, A, M]
    out = {}
    for k, category in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]  # all areas, 100 detections
        p = p[p > -1]
        out[int(category)] = float(p.mean()) if p.size else float("nan")
    return out


def _member_recall(evaluator: Any, members: frozenset[int]) -> dict[str, float]:
    """Recall of the crowd members at IoU 0.5 and 0.75 from COCOeval's own matches."""
    thresholds = list(np.round(evaluator.params.iouThrs, 2))
    columns = {"crowd_recall50": thresholds.index(0.5), "crowd_recall75": thresholds.index(0.75)}
    found = dict.fromkeys(columns, 0)
    total = 0
    num_images = len(evaluator.params.imgIds)
    num_areas = len(evaluator.params.areaRng)
    for k in range(len(evaluator.params.catIds)):
        for i in range(num_images):
            entry = evaluator.evalImgs[k * num_areas * num_images + i]  # area "all" is first
            if entry is None:
                continue
            for g, gt_id in enumerate(entry["gtIds"]):
                if gt_id not in members:
                    continue
                total += 1
                for name, t in columns.items():
                    found[name] += int(entry["gtMatches"][t, g] > 0)
    if total == 0:
        return dict.fromkeys(columns, float("nan"))
    return {name: found[name] / total for name in columns}
