"""Deprecated: moved to :mod:`relnet_dedup.training.loss`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_dedup.training.loss", removed_in="relnet-dedup 0.4")

from relnet_dedup.training.loss import *  # noqa: E402, F403
