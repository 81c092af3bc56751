"""Deprecated: moved to :mod:`relnet_core.checkpoints` (``save_file``, ``load_file``,
``compatible``) and :mod:`relnet_core.files` (``atomic_write``, ``check_writable``)."""

from relnet_core.deprecation import warn_moved

warn_moved(__name__, "relnet_core.checkpoints and relnet_core.files", removed_in="relnet-dedup 0.4")

from relnet_core.checkpoints import compatible, load_file, save_file  # noqa: E402
from relnet_core.files import atomic_write, check_writable  # noqa: E402

__all__ = ["atomic_write", "check_writable", "compatible", "load_file", "save_file"]
