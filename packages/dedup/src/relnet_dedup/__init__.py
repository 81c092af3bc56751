"""Learned duplicate removal (Relation Networks for Object Detection, §4.3).

The public API is this package's top level (``__all__``). Its layout:

- :mod:`relnet_dedup.classic`: the removers that learn nothing (NMS, Soft-NMS, the oracle);
- :mod:`relnet_dedup.network`: the relation network that removes duplicates, and its inference;
- :mod:`relnet_dedup.training`: its targets, loss, training groups and ``fit``;
- :mod:`relnet_dedup.io`: COCO files and COCOeval, checkpoints, ONNX export;
- shared at the top: :mod:`~relnet_dedup.grouping` (candidates per class, padded groups),
  :mod:`~relnet_dedup.data` (``ImageDetections``), :mod:`~relnet_dedup.synthetic` and
  :mod:`~relnet_dedup.testing`.

The module paths of 0.3 (``relnet_dedup.nms``, ``relnet_dedup.fit``, ``relnet_dedup.coco``, ...)
still import, with a ``DeprecationWarning``, until 0.4.
"""

import importlib
import sys
import types
from typing import Any

from . import testing
from ._version import __version__
from .classic.nms import batched_nms, nms
from .classic.oracle import oracle_batched_nms
from .classic.soft_nms import batched_soft_nms, soft_nms
from .data import ImageDetections
from .grouping import select_candidates
from .io.checkpoint import load_checkpoint, save_checkpoint
from .io.coco import (
    coco_ground_truth,
    coco_results,
    fit_coco,
    load_coco_detections,
    to_coco_results,
)
from .io.cocoeval import coco_eval, evaluate_coco
from .io.export import export_onnx
from .network import DedupConfig, DuplicateRemovalNetwork, build_dedup_network
from .network.fixed_groups import fixed_groups_learned_nms
from .network.inference import learned_batched_nms
from .synthetic import SyntheticConfig, make_synthetic
from .training.fit import EpochStats, FitResult, fit
from .training.loss import dedup_loss
from .training.targets import assign_duplicate_targets, batched_assign_duplicate_targets

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
    "coco_eval",
    "coco_ground_truth",
    "coco_results",
    "dedup_loss",
    "evaluate_coco",
    "export_onnx",
    "fit",
    "fit_coco",
    "fixed_groups_learned_nms",
    "learned_batched_nms",
    "load_checkpoint",
    "load_coco_detections",
    "make_synthetic",
    "nms",
    "oracle_batched_nms",
    "save_checkpoint",
    "select_candidates",
    "soft_nms",
    "testing",
    "to_coco_results",
]

# Deprecated module paths (each warns once when imported, and is gone in 0.4), loaded on first use
# so that ``import relnet_dedup`` itself does not warn.
_MOVED = frozenset(
    {
        "checkpoint",  # relnet_dedup.io.checkpoint
        "coco",  # relnet_dedup.io.coco and relnet_dedup.io.cocoeval
        "export",  # relnet_dedup.io.export
        "fit",  # relnet_dedup.training.fit
        "inference",  # relnet_dedup.network.inference
        "loss",  # relnet_dedup.training.loss
        "nms",  # relnet_dedup.classic.nms
        "oracle",  # relnet_dedup.classic.oracle
        "ranked",  # relnet_dedup.network.ranked
        "serialization",  # relnet_core.checkpoints and relnet_core.files
        "soft_nms",  # relnet_dedup.classic.soft_nms
        "targets",  # relnet_dedup.training.targets
        "training_data",  # relnet_dedup.training.batches
        "validation",  # relnet_core.checks
    }
)


def __getattr__(name: str) -> Any:
    """The deprecated modules of :data:`_MOVED` (``relnet_dedup.coco``, ...): importing one warns
    once."""
    if name in _MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package's module type: ``relnet_dedup.fit``, ``.nms`` and ``.soft_nms`` are functions
    and also the deprecated module paths of 0.3; the import system binds every submodule it loads
    to its parent's attribute, which would replace the function by the module, so here the
    function stays."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and callable(self.__dict__.get(name)):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
