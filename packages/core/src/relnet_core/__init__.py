"""What every relnet package uses: argument checks, atomic files, checkpoint files, seeds.

- :mod:`relnet_core.checks`: ``check_int``, ``check_float``, ``check_bool``, ``check_choice``,
  ``check_tensor``: the checked value, or one ``ValueError`` naming the argument and the value.
- :mod:`relnet_core.files`: ``atomic_write``, ``write_text``, ``write_json``, ``atomic_path``,
  ``check_writable``: fsynced, atomic writes (no torch import: cheap for a command line).
- :mod:`relnet_core.checkpoints`: ``save_file``, ``load_file``: checksummed torch files loaded with
  ``weights_only=True``.
- :mod:`relnet_core.seeding`: ``mix_seed``.
- :mod:`relnet_core.deprecation`: ``warn_moved``, for old import paths kept one release.

The submodules load on first use, so ``import relnet_core`` imports neither torch nor numpy.
"""

import importlib
from typing import Any

from ._version import __version__

__all__ = ["__version__", "checkpoints", "checks", "deprecation", "files", "seeding"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
