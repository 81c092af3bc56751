"""The object relation module of Relation Networks for Object Detection (Hu et al., CVPR 2018)."""

from ._version import __version__
from .relation import RelationModule

__all__ = ["RelationModule", "__version__"]
