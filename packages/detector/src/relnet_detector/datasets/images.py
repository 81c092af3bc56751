"""Deprecated: moved to :mod:`relnet_detector.datasets.coco.images`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.datasets.coco.images", removed_in="relnet-detector 0.3")

from relnet_detector.datasets.coco.images import *  # noqa: E402, F403
from relnet_detector.datasets.coco.images import __all__  # noqa: E402, F401
