"""Faster R-CNN with relation heads and learned duplicate removal (Relation Networks, §4).

The package's parts: :mod:`~relnet_detector.config` (dataclasses, presets, TOML),
:mod:`~relnet_detector.modeling` (backbone, RoI heads, removers, the model),
:mod:`~relnet_detector.engine` (training, checkpoints), :mod:`~relnet_detector.evaluation`
(COCO evaluation) and :mod:`~relnet_detector.datasets` (COCO folders, the synthetic benchmark).
The module paths of 0.2 (``relnet_detector.model``, ``.checkpoint``, ``.removers`` ...) still
import, with a ``DeprecationWarning``, until 0.4.
"""

import importlib
import sys
import types
from typing import Any

from ._version import __version__
from .config import (
    BackboneConfig,
    DetectorConfig,
    ModelConfig,
    RemoverConfig,
    RoIConfig,
    RPNConfig,
    TrainConfig,
    load_config,
    save_config,
)
from .datasets.coco import CategoryMap, CocoFolder, collate, eval_transforms, train_transforms
from .engine.checkpoint import LoadedDetector, load_detector, save_detector
from .engine.train import NonFiniteLossError, TrainResult, train
from .evaluation.evaluate import EvalResult, RemoverResult, evaluate
from .modeling.backbone import build_backbone
from .modeling.explain import RelationWeights, relation_weights
from .modeling.model import RelationDetector, build_detector
from .modeling.removers import RawDetections, remove_duplicates, remove_duplicates_batch
from .modeling.roi_heads import RelationRoIHeads

__all__ = [
    "BackboneConfig",
    "CategoryMap",
    "CocoFolder",
    "DetectorConfig",
    "EvalResult",
    "LoadedDetector",
    "ModelConfig",
    "NonFiniteLossError",
    "RPNConfig",
    "RawDetections",
    "RelationDetector",
    "RelationRoIHeads",
    "RelationWeights",
    "RemoverConfig",
    "RemoverResult",
    "RoIConfig",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "build_backbone",
    "build_detector",
    "collate",
    "eval_transforms",
    "evaluate",
    "load_config",
    "load_detector",
    "relation_weights",
    "remove_duplicates",
    "remove_duplicates_batch",
    "save_config",
    "save_detector",
    "train",
    "train_transforms",
]

# The module paths of 0.2, each now a deprecated module that warns once when imported.
_MOVED = (
    "backbone",
    "checkpoint",
    "distributed",
    "end_to_end",
    "evaluate",
    "explain",
    "metrics",
    "metrics_log",
    "model",
    "optim",
    "padding",
    "progress",
    "removers",
    "rng_state",
    "roi_heads",
    "run_folder",
    "schedule",
    "seeding",
    "train",
    "train_loop",
    "training_data",
)


def __getattr__(name: str) -> Any:
    """The deprecated module paths of 0.2 (``relnet_detector.model`` ...), imported on first use
    so that ``import relnet_detector`` itself does not warn."""
    if name in _MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``relnet_detector`` itself. ``relnet_detector.train`` and ``.evaluate`` are functions and
    also the names of deprecated modules; importing such a module would make the import system
    set it as this package's attribute, in place of the function. The function stays."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("train", "evaluate") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
