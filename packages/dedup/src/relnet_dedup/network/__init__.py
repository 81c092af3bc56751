"""The learned duplicate remover of paper §4.3, Fig. 3(b): the relation network and its inference.

- :mod:`.config`: :class:`DedupConfig`, the network's sizes, inputs and head (Table 3's variants);
- :mod:`.features`: the rank order and the overlap with higher-ranked detections, its inputs;
- :mod:`.module`: :class:`DuplicateRemovalNetwork` itself;
- :mod:`.ranked`: inference on rank-ordered groups, the rank-only parts computed once;
- :mod:`.inference`: :func:`~relnet_dedup.learned_batched_nms`, a drop-in for
  ``torchvision.ops.batched_nms``;
- :mod:`.fixed_groups`: :func:`~relnet_dedup.fixed_groups_learned_nms`, the same on a fixed
  number of groups, for a traced (exported) detector.

Up to 0.3 ``relnet_dedup.network`` was one module; this package exports the same names, so
``from relnet_dedup.network import DedupConfig`` still works (the top level,
``from relnet_dedup import DedupConfig``, is the documented path).
"""

from .config import GEOMETRIES, HEADS, RANK_FEATURES, DedupConfig, Geometry, Head, RankFeature
from .features import SCORE_SCALE, descending_ranks, higher_ranked_overlap, ranked_before
from .module import DuplicateRemovalNetwork, build_dedup_network, check_model

__all__ = [
    "GEOMETRIES",
    "HEADS",
    "RANK_FEATURES",
    "SCORE_SCALE",
    "DedupConfig",
    "DuplicateRemovalNetwork",
    "Geometry",
    "Head",
    "RankFeature",
    "build_dedup_network",
    "check_model",
    "descending_ranks",
    "higher_ranked_overlap",
    "ranked_before",
]
