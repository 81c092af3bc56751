"""Deprecated: moved to :mod:`relnet_detector.modeling.end_to_end`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.modeling.end_to_end", removed_in="relnet-detector 0.3")

from relnet_detector.modeling.end_to_end import *  # noqa: E402, F403
from relnet_detector.modeling.end_to_end import __all__  # noqa: E402, F401
