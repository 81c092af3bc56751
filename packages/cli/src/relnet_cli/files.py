"""Paths in and out: up-front checks of inputs, and outputs that are never left half-written."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` only on success.

    The file takes the permissions the umask gives a new file, like ``open(path, "w")``.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json(path: Path, data: Any, indent: int | None = None) -> Path:
    """Write ``data`` as JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    return path
