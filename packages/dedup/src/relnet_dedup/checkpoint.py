"""Deprecated: moved to :mod:`relnet_dedup.io.checkpoint`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.io.checkpoint", removed_in="relnet-dedup 0.4")

from relnet_dedup.io.checkpoint import *  # noqa: E402, F403
