"""Deprecated: moved to :mod:`relnet_detector.engine.progress`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.engine.progress", removed_in="relnet-detector 0.3")

from relnet_detector.engine.progress import *  # noqa: E402, F403
from relnet_detector.engine.progress import __all__  # noqa: E402, F401
