"""The network: backbone with FPN, torchvision's RPN, the relation RoI heads (paper §4.2), the
duplicate removers (§4.3) and their end-to-end training (§4.4), and the relation weights (Fig. 4).

- :mod:`~relnet_detector.modeling.backbone`: ``build_backbone`` (tiny GroupNorm CNN or ResNet, FPN).
- :mod:`~relnet_detector.modeling.model`: ``RelationDetector``, ``build_detector``.
- :mod:`~relnet_detector.modeling.roi_heads`: ``RelationRoIHeads`` (padded RoI sets, key masks).
- :mod:`~relnet_detector.modeling.raw_output`: the boxes before duplicate removal.
- :mod:`~relnet_detector.modeling.removers`: ``remove_duplicates`` (NMS, Soft-NMS, learned, oracle).
- :mod:`~relnet_detector.modeling.end_to_end`: ``loss_dedup`` of end-to-end training.
- :mod:`~relnet_detector.modeling.explain`: ``relation_weights``.
"""

from .backbone import build_backbone
from .explain import RelationWeights, relation_weights
from .model import RelationDetector, build_detector
from .removers import GroundTruth, RawDetections, remove_duplicates, remove_duplicates_batch
from .roi_heads import RelationRoIHeads

__all__ = [
    "GroundTruth",
    "RawDetections",
    "RelationDetector",
    "RelationRoIHeads",
    "RelationWeights",
    "build_backbone",
    "build_detector",
    "relation_weights",
    "remove_duplicates",
    "remove_duplicates_batch",
]
