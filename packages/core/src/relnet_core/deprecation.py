"""Old import paths kept for one release: importing one warns once, in one line, where it moved.

A package that moved its modules declares the old paths once, in its ``__init__``, instead of
keeping a stub file per old module (so its folder shows only today's layout)::

    from relnet_core.deprecation import redirect_modules

    redirect_modules(__name__, {"train": "engine.train", "model": "modeling.model"},
                     removed_in="relnet-detector 0.3")

Then ``import relnet_detector.train`` (or ``from relnet_detector.train import train``) warns
``relnet_detector.train moved to relnet_detector.engine.train; ...`` and gives the new module
itself, so every name is the same object.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["redirect_modules", "warn_moved"]


def warn_moved(old: str, new: str, *, removed_in: str, stacklevel: int = 3) -> None:
    """Warn (``DeprecationWarning``, pointing at the importer) that module ``old`` is now
    ``new`` and that the old path goes away in ``removed_in``."""
    warnings.warn(
        f"{old} moved to {new}; import it from there ({old} is removed in {removed_in})",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def redirect_modules(package: str, moved: Mapping[str, str], *, removed_in: str) -> None:
    """Make ``package.OLD`` import (with a warning) as ``package.NEW`` for each ``OLD: NEW`` of
    ``moved`` (both relative to ``package``, dotted)."""
    sys.meta_path.append(_Redirect(package, dict(moved), removed_in))


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A finder consulted after the normal ones: only old paths that no file answers reach it."""

    def __init__(self, package: str, moved: dict[str, str], removed_in: str) -> None:
        self.package, self.moved, self.removed_in = package, moved, removed_in
        self.specs: dict[str, ModuleSpec | None] = {}  # old name: the new module's own spec

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        prefix = self.package + "."
        if fullname.startswith(prefix) and fullname[len(prefix) :] in self.moved:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        new = f"{self.package}.{self.moved[spec.name[len(self.package) + 1 :]]}"
        # warnings skips the import system's frames: level 3 is the importer
        warn_moved(spec.name, new, removed_in=self.removed_in, stacklevel=3)
        module = importlib.import_module(new)
        self.specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is the new one, already imported; the import system gave
        it the old path's spec, so its own is put back."""
        module.__spec__ = self.specs[module.__spec__.name]  # type: ignore[union-attr]
