"""The object relation module of Relation Networks for Object Detection (Hu et al., CVPR 2018)."""

from ._version import __version__
from .precomputed import EXP_FLOOR, shifted_exp
from .relation import RelationModule
from .validation import GEOMETRIES, VALUE_INITS, Geometry, ValueInit

__all__ = [
    "EXP_FLOOR",
    "GEOMETRIES",
    "VALUE_INITS",
    "Geometry",
    "RelationModule",
    "ValueInit",
    "__version__",
    "shifted_exp",
]
