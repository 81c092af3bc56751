"""Box geometry for Relation Networks (Hu et al., CVPR 2018): IoU, relative geometry, embeddings."""

from ._checks import check_boxes
from ._version import __version__
from .boxes import box_iou, relative_geometry
from .embedding import geometry_embedding, rank_embedding, sinusoid_embedding

__all__ = [
    "__version__",
    "box_iou",
    "check_boxes",
    "geometry_embedding",
    "rank_embedding",
    "relative_geometry",
    "sinusoid_embedding",
]
