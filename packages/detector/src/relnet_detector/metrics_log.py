"""Deprecated: moved to :mod:`relnet_detector.engine.metrics_log`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.engine.metrics_log", removed_in="relnet-detector 0.3")

from relnet_detector.engine.metrics_log import *  # noqa: E402, F403
from relnet_detector.engine.metrics_log import __all__  # noqa: E402, F401
