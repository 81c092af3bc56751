"""Deprecated: moved to :mod:`relnet_detector.engine.run_folder`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.engine.run_folder", removed_in="relnet-detector 0.3")

from relnet_detector.engine.checkpoint import (  # noqa: E402
    RESUMABLE_CHANGES,
    TrainState,
    restore_training,
)
from relnet_detector.engine.run_folder import *  # noqa: E402, F403
from relnet_detector.engine.run_folder import __all__ as _moved  # noqa: E402

__all__ = [*_moved, "RESUMABLE_CHANGES", "TrainState", "restore_training"]
