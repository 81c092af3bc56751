"""Faster R-CNN with relation heads and learned duplicate removal (Relation Networks, §4)."""

from ._version import __version__
from .backbone import build_backbone
from .model import RelationDetector, build_detector
from .removers import RawDetections, remove_duplicates
from .roi_heads import RelationRoIHeads

__all__ = [
    "RawDetections",
    "RelationDetector",
    "RelationRoIHeads",
    "__version__",
    "build_backbone",
    "build_detector",
    "remove_duplicates",
]
