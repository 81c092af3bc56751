"""Deprecated: moved to :mod:`relnet_detector.evaluation.evaluate`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.evaluation.evaluate", removed_in="relnet-detector 0.3")

from relnet_detector.evaluation.evaluate import *  # noqa: E402, F403
from relnet_detector.evaluation.evaluate import __all__  # noqa: E402, F401
