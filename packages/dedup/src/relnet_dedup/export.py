"""Deprecated: moved to :mod:`relnet_dedup.io.export`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.io.export", removed_in="relnet-dedup 0.4")

from relnet_dedup.io.export import *  # noqa: E402, F403
