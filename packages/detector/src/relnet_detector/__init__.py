"""Faster R-CNN with relation heads and learned duplicate removal (Relation Networks, §4)."""

from ._version import __version__
from .backbone import build_backbone
from .checkpoint import LoadedDetector, load_detector, save_detector
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
from .datasets.categories import CategoryMap
from .datasets.coco import CocoFolder, collate, eval_transforms, train_transforms
from .evaluate import EvalResult, RemoverResult, evaluate
from .explain import RelationWeights, relation_weights
from .model import RelationDetector, build_detector
from .removers import RawDetections, remove_duplicates, remove_duplicates_batch
from .roi_heads import RelationRoIHeads
from .train import NonFiniteLossError, TrainResult, train

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
