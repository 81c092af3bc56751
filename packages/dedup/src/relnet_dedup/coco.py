"""Deprecated: moved to :mod:`relnet_dedup.io.coco` (files in and out) and
:mod:`relnet_dedup.io.cocoeval` (``evaluate_coco``)."""

from relnet_core.deprecation import warn_moved

warn_moved(
    __name__, "relnet_dedup.io.coco and relnet_dedup.io.cocoeval", removed_in="relnet-dedup 0.4"
)

from relnet_dedup.io.coco import *  # noqa: E402, F403
from relnet_dedup.io.coco import PathLike, Remover  # noqa: E402, F401
from relnet_dedup.io.coco import __all__ as _coco_all  # noqa: E402
from relnet_dedup.io.cocoeval import evaluate_coco  # noqa: E402, F401

__all__ = sorted([*_coco_all, "evaluate_coco"])
