"""Checkpoint files: atomic, checksummed, and loaded with ``torch.load(weights_only=True)`` only.

A file written by :func:`save_file` is a ``torch.save`` of the plain dict
``{"format": str, "sha256": str, "payload": bytes}``: ``payload`` is the ``torch.save`` of the
caller's dict (plain Python types and tensors) and ``sha256`` its hex digest, so a flipped byte
anywhere in the payload is detected on load. Both levels load with ``weights_only=True``: loading
a file never runs its code.

Writes are atomic (a temporary file ``.{name}.{random}.tmp`` beside the target, flushed and
fsynced, then ``os.replace``), the file's mode follows the umask like a plain ``open()`` (``0o666 &
~umask``), a failed write removes its temporary file, and the temporaries left by a killed earlier
write of the same path are removed at the next write. Concurrent writes of one path are not
supported (the last ``os.replace`` wins, and one writer may remove the other's temporary file).
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["atomic_write", "check_writable", "compatible", "load_file", "save_file"]

PathLike = str | os.PathLike[str]
MapLocation = str | torch.device | None


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
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {path.parent} does not exist")
    _remove_stale_temporaries(path)
    tmp = _temporary(path)
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


def save_file(payload: dict[str, Any], path: PathLike, *, format: str) -> Path:
    """Write ``payload`` with its ``format`` and checksum to ``path`` atomically.

    Args:
        payload (dict): plain Python types (str, int, float, bool, None, lists, tuples, dicts)
            and tensors only, so that it loads with ``weights_only=True``.
        path (str | PathLike): the destination; its directory must exist.
        format (str): names the kind of file; :func:`load_file` refuses any other.

    Returns:
        Path: ``path``.
    """
    if not isinstance(payload, dict):
        raise ValueError(f"payload must be a dict, got {type(payload).__name__}")
    if not isinstance(format, str) or not format:
        raise ValueError(f"format must be a non-empty str, got {format!r}")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    outer = {"format": format, "sha256": hashlib.sha256(data).hexdigest(), "payload": data}
    return atomic_write(path, lambda f: torch.save(outer, f))


def load_file(path: PathLike, *, format: str, map_location: MapLocation = None) -> dict[str, Any]:
    """The payload :func:`save_file` wrote to ``path``, its checksum verified.

    Args:
        path (str | PathLike): the file.
        format (str): the format it must have been written with.
        map_location (str | torch.device, optional): where to put the tensors, as in ``torch.load``.

    Returns:
        dict: the payload.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: anything else (unreadable, truncated, not a torch file, code in the pickle,
            another format, an older layout without a checksum, a checksum mismatch, a payload
            that does not load on ``map_location``); the message names the path.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
    expected = f"not a relnet checkpoint: {path}: expected a {format!r} file"
    outer = _load(raw, "cpu", expected)
    found = outer.get("format") if isinstance(outer, dict) else type(outer).__name__
    if found != format:
        raise ValueError(f"{expected}, its format is {found!r}")
    data, digest = outer.get("payload"), outer.get("sha256")
    if not isinstance(data, bytes) or not isinstance(digest, str):
        version = outer.get("version")
        raise ValueError(
            f"{path} has no checksum: written in an older layout (version {version!r}) "
            "that this version cannot load"
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ValueError(
            f"{path} is corrupt: checksum mismatch (stored sha256 {digest[:16]}..., "
            f"content {actual[:16]}...)"
        )
    payload = _load(data, map_location, f"cannot load the payload of {path}")
    if not isinstance(payload, dict):
        raise ValueError(f"{path} is malformed: its payload is a {type(payload).__name__}")
    return payload


def _load(data: bytes, map_location: MapLocation, message: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # the unpickler raises many kinds (KeyError, struct.error, ...)
        # the kind of error only: torch's weights_only advice runs to pages and says nothing
        # about a file that is simply not a checkpoint
        raise ValueError(f"{message}: corrupt or not a torch file ({type(err).__name__})") from err


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


def compatible(saved: str, installed: str) -> bool:
    """Whether a checkpoint of version ``saved`` loads in ``installed`` (same major; under 0.x,
    same minor)."""
    try:
        s = [int(p) for p in saved.split(".")[:2]]
        i = [int(p) for p in installed.split(".")[:2]]
    except ValueError:
        return False
    if len(s) < 2 or len(i) < 2 or s[0] != i[0]:
        return False
    return s[0] != 0 or s[1] == i[1]
