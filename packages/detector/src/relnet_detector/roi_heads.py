"""Deprecated: moved to :mod:`relnet_detector.modeling.roi_heads`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.modeling.roi_heads", removed_in="relnet-detector 0.3")

from relnet_detector.modeling.raw_output import MIN_BOX_SIZE  # noqa: E402
from relnet_detector.modeling.roi_heads import *  # noqa: E402, F403
from relnet_detector.modeling.roi_heads import __all__ as _moved  # noqa: E402

__all__ = [*_moved, "MIN_BOX_SIZE"]
