"""Learned duplicate removal (Relation Networks for Object Detection, §4.3)."""

import importlib
from typing import Any

from . import testing
from ._version import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .coco import (
    coco_ground_truth,
    coco_results,
    evaluate_coco,
    fit_coco,
    load_coco_detections,
    to_coco_results,
)
from .data import ImageDetections
from .export import export_onnx
from .fit import EpochStats, FitResult, fit
from .inference import learned_batched_nms
from .loss import dedup_loss
from .network import DedupConfig, DuplicateRemovalNetwork, build_dedup_network
from .nms import batched_nms, nms
from .oracle import oracle_batched_nms
from .soft_nms import batched_soft_nms, soft_nms
from .synthetic import SyntheticConfig, make_synthetic
from .targets import assign_duplicate_targets, batched_assign_duplicate_targets

__all__ = [
    "DedupConfig",
    "DuplicateRemovalNetwork",
    "EpochStats",
    "FitResult",
    "ImageDetections",
    "SyntheticConfig",
    "__version__",
    "assign_duplicate_targets",
    "batched_assign_duplicate_targets",
    "batched_nms",
    "batched_soft_nms",
    "build_dedup_network",
    "coco_ground_truth",
    "coco_results",
    "dedup_loss",
    "evaluate_coco",
    "export_onnx",
    "fit",
    "fit_coco",
    "learned_batched_nms",
    "load_checkpoint",
    "load_coco_detections",
    "make_synthetic",
    "nms",
    "oracle_batched_nms",
    "save_checkpoint",
    "soft_nms",
    "testing",
    "to_coco_results",
]


def __getattr__(name: str) -> Any:
    """``relnet_dedup.validation`` and ``relnet_dedup.serialization``, deprecated: they moved to
    relnet-core (importing them warns once)."""
    if name in ("validation", "serialization"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
