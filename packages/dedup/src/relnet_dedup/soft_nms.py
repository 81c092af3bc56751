"""Deprecated: moved to :mod:`relnet_dedup.classic.soft_nms`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.classic.soft_nms", removed_in="relnet-dedup 0.4")

from relnet_dedup.classic.soft_nms import *  # noqa: E402, F403
