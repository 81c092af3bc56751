"""Deprecated: moved to :mod:`relnet_detector.engine.rng_state`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.engine.rng_state", removed_in="relnet-detector 0.3")

from relnet_detector.engine.rng_state import *  # noqa: E402, F403
from relnet_detector.engine.rng_state import __all__  # noqa: E402, F401
