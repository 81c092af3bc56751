"""Deprecated: moved to :mod:`relnet_detector.modeling.model`."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_detector.modeling.model", removed_in="relnet-detector 0.3")

from relnet_detector.modeling.checks import check_model_config  # noqa: E402
from relnet_detector.modeling.model import *  # noqa: E402, F403
from relnet_detector.modeling.model import __all__ as _moved  # noqa: E402

__all__ = [*_moved, "check_model_config"]
