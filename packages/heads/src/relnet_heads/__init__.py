"""Instance heads with object relation modules (Relation Networks for Object Detection, §4.2)."""

from ._version import __version__
from .base import BoxHead, count_parameters
from .build import build_head
from .config import HeadConfig, RelationConfig
from .fc import FCHead
from .relation import RelationHead
from .residual import ResidualBlock, ResidualHead

__all__ = [
    "BoxHead",
    "FCHead",
    "HeadConfig",
    "RelationConfig",
    "RelationHead",
    "ResidualBlock",
    "ResidualHead",
    "__version__",
    "build_head",
    "count_parameters",
]
