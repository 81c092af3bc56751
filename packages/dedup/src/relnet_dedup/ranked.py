"""Deprecated: moved to :mod:`relnet_dedup.network.ranked`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.network.ranked", removed_in="relnet-dedup 0.4")

from relnet_dedup.network.ranked import *  # noqa: E402, F403
