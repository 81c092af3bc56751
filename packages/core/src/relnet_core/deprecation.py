"""Old import paths kept for one release: importing one warns once, in one line, where it moved.

Example (the whole of a moved module's old file)::

    from relnet_core.deprecation import warn_moved

    warn_moved(__name__, "relnet_core.checks", removed_in="relnet-dedup 0.5")
    from relnet_core.checks import *  # noqa: E402, F403
"""

from __future__ import annotations

import warnings

__all__ = ["warn_moved"]


def warn_moved(old: str, new: str, *, removed_in: str) -> None:
    """Warn (``DeprecationWarning``, pointing at the importer) that module ``old`` is now
    ``new`` and that the old path goes away in ``removed_in``."""
    warnings.warn(
        f"{old} moved to {new}; import it from there ({old} is removed in {removed_in})",
        DeprecationWarning,
        stacklevel=3,
    )
