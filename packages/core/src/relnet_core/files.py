"""Files written atomically: a temporary file beside the target, flushed and fsynced, then
``os.replace``, so that a reader sees the old content or the new, never half of one.

The file's mode follows the umask like a plain ``open()`` (``0o666 & ~umask``), a failed write
removes its temporary file, and the temporaries left by a killed earlier write of the same path are
removed at the next write. Concurrent writes of one path are not supported (the last
``os.replace`` wins, and one writer may remove the other's temporary file).

Example:
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.json"
    >>> write_json(path, {"epochs": 4}).read_text()
    '{"epochs": 4}\n'
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PathLike",
    "atomic_path",
    "atomic_write",
    "check_writable",
    "write_bytes",
    "write_json",
    "write_text",
]

PathLike = str | os.PathLike[str]


def check_writable(path: PathLike) -> Path:
    """``path`` as a ``Path`` if a file can be written there, checked by creating and removing a
    temporary file beside it (call it before long work whose result goes to ``path``).

    Raises:
        ValueError: ``path`` is a directory, its directory does not exist, or the directory is not
            writable; the message names the path.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {path.parent} does not exist")
    tmp = _temporary(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise ValueError(
            f"cannot write {path}: directory {path.parent} is not writable ({err.strerror})"
        ) from err
    os.close(fd)
    tmp.unlink(missing_ok=True)
    return path


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then move it to ``path`` atomically.

    Args:
        path (str | PathLike): the destination; its directory must exist.
        write (callable): writes the content to the binary file object it is given.

    Returns:
        Path: ``path``. Its mode is ``0o666 & ~umask``.

    Raises:
        ValueError: the directory is missing or not writable (nothing is written).
    """
    path, tmp = _prepare(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror} ({path.parent})") from err
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); returns ``path``."""
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, data: Any, *, indent: int | None = None) -> Path:
    """Write ``data`` as JSON and a final newline to ``path`` atomically; returns ``path``."""
    return write_text(path, json.dumps(data, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (an image library, a
    plot's ``savefig``); the file is fsynced and moved onto ``path`` when the block succeeds, and
    removed when it fails.

    Example:
        >>> with atomic_path(folder / "curves.png") as tmp:  # doctest: +SKIP
        ...     figure.savefig(tmp, format="png")
    """
    path, tmp = _prepare(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _prepare(path: PathLike) -> tuple[Path, Path]:
    """``path`` as a ``Path`` and a fresh temporary name beside it, once its directory is known to
    exist and the temporaries of a killed earlier write of it are removed."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {path.parent} does not exist")
    _remove_stale_temporaries(path)
    return path, _temporary(path)


def _temporary(path: Path) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files a killed earlier write of ``path`` left behind."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if stale.is_file() or stale.is_symlink():
                stale.unlink()
        except OSError:
            pass


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; not possible on every platform (Windows), where it is skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
