"""Deprecated: moved to :mod:`relnet_core.checks`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_core.checks", removed_in="relnet-dedup 0.4")

from relnet_core.checks import *  # noqa: E402, F403
from relnet_core.checks import __all__  # noqa: E402, F401
