"""Paths in and out: up-front checks of the command line's paths, each a :class:`CliError` that
names the option. The outputs themselves are written atomically by :mod:`relnet_core.files`
(``write_json``, ``atomic_path``): never left half-written.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CliError


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a readable file, else a :class:`CliError` naming it and ``what`` it is."""
    if not path.exists():
        raise CliError(f"{what} {path} does not exist")
    if path.is_dir():
        raise CliError(f"{what} {path} is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise CliError(f"{what} {path} is not readable (permission denied)")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is an existing directory, else a :class:`CliError` naming it."""
    if not path.exists():
        raise CliError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise CliError(f"{what} {path} is not a directory")
    return path


def require_writable_parent(path: Path, what: str) -> Path:
    """``path`` if its folder exists and is writable (checked before any long work starts)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CliError(f"{what} {path} is a directory; give a file name")
    if not parent.is_dir():
        raise CliError(f"cannot write {what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {what} {path}: folder {parent} is not writable")
    return path


def make_dir(path: Path, what: str) -> Path:
    """Create folder ``path`` (and its parents); a file in the way is a :class:`CliError`."""
    if path.exists() and not path.is_dir():
        raise CliError(f"{what} {path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path
