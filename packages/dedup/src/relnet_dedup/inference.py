"""Deprecated: moved to :mod:`relnet_dedup.network.inference`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.network.inference", removed_in="relnet-dedup 0.4")

from relnet_dedup.network.inference import *  # noqa: E402, F403
