"""Deprecated: moved to :mod:`relnet_detector.modeling.backbone`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.modeling.backbone", removed_in="relnet-detector 0.3")

from relnet_detector.modeling.backbone import *  # noqa: E402, F403
from relnet_detector.modeling.backbone import __all__  # noqa: E402, F401
