"""What every relnet package uses: argument checks, atomic files, checkpoint files, seeds.

- :mod:`relnet_core.checks`: ``check_int``, ``check_float``, ``check_bool``, ``check_choice``,
  ``check_tensor``: the checked value, or one ``ValueError`` naming the argument and the value.
- :mod:`relnet_core.files`: ``atomic_write``, ``write_text``, ``write_json``, ``atomic_path``,
  ``check_writable``: fsynced, atomic writes.
- :mod:`relnet_core.checkpoints`: ``save_file``, ``load_file``: checksummed torch files loaded with
  ``weights_only=True``.
- :mod:`relnet_core.seeding`: ``mix_seed``.
"""

from . import checkpoints, checks, files, seeding
from ._version import __version__

__all__ = ["__version__", "checkpoints", "checks", "files", "seeding"]
