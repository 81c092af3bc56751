"""COCO evaluation: one path from the detector's detections to COCO results to ``COCOeval``.

:func:`relnet_detector.evaluation.evaluate.evaluate` (also ``relnet_detector.evaluate``; not
re-exported here, so that ``relnet_detector.evaluation.evaluate`` stays the module) runs the
network once per image and applies every remover to the same raw
output (paper §5.2, Table 4); :func:`coco_detections` converts one image's detections to COCO
results (:mod:`~relnet_detector.evaluation.coco_results`); :func:`coco_metrics` /
:func:`coco_stats` run ``COCOeval`` and the crowd numbers
(:mod:`~relnet_detector.evaluation.metrics`); :func:`precision_recall` and
:func:`confusion_matrix` diagnose the errors (:mod:`~relnet_detector.evaluation.analysis`).
Training's per-epoch val, ``relnet eval`` and the benchmarks all go through these.
"""

from .analysis import ConfusionMatrix, confusion_matrix, precision_recall
from .coco_results import category_lookup, coco_detections
from .evaluate import EvalDataset, EvalResult, RemoverResult, remover_names
from .metrics import (
    CROWD_NAMES,
    STAT_NAMES,
    CocoMetrics,
    Crowds,
    coco_metrics,
    coco_stats,
    find_crowds,
    run_cocoeval,
)

__all__ = [
    "CROWD_NAMES",
    "STAT_NAMES",
    "CocoMetrics",
    "ConfusionMatrix",
    "Crowds",
    "EvalDataset",
    "EvalResult",
    "RemoverResult",
    "category_lookup",
    "coco_detections",
    "coco_metrics",
    "coco_stats",
    "confusion_matrix",
    "find_crowds",
    "precision_recall",
    "remover_names",
    "run_cocoeval",
]
