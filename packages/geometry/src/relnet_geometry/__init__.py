"""Box geometry for Relation Networks (Hu et al., CVPR 2018): IoU, relative geometry, embeddings."""

from ._checks import check_boxes
from ._version import __version__
from .boxes import box_iou, relative_geometry, relative_geometry_unchecked
from .embedding import (
    GEOMETRY_SCALE,
    geometry_embedding,
    inverse_frequencies,
    rank_embedding,
    sinusoid_embedding,
)

__all__ = [
    "GEOMETRY_SCALE",
    "__version__",
    "box_iou",
    "check_boxes",
    "geometry_embedding",
    "inverse_frequencies",
    "rank_embedding",
    "relative_geometry",
    "relative_geometry_unchecked",
    "sinusoid_embedding",
]
