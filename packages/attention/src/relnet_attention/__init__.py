"""The object relation module of Relation Networks for Object Detection (Hu et al., CVPR 2018)."""

from ._version import __version__
from .relation import EXP_FLOOR, RelationModule, shifted_exp

__all__ = ["EXP_FLOOR", "RelationModule", "__version__", "shifted_exp"]
