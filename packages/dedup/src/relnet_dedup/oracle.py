"""Deprecated: moved to :mod:`relnet_dedup.classic.oracle`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.classic.oracle", removed_in="relnet-dedup 0.4")

from relnet_dedup.classic.oracle import *  # noqa: E402, F403
