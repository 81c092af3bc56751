"""Cache folder, marker file, inter-process lock and atomic folder swap for generated data."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENV_DATA_DIR = "RELNET_DATA_DIR"
MARKER = "synthetic.json"


def platform_cache_dir() -> Path:
    """``relnet`` in the user cache folder: XDG on Linux, Library/Caches, LOCALAPPDATA."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "relnet"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "relnet"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relnet"


def default_data_dir() -> Path:
    """Root of generated data: ``$RELNET_DATA_DIR`` if set, else :func:`platform_cache_dir`."""
    override = os.environ.get(ENV_DATA_DIR)
    return Path(override).expanduser() if override else platform_cache_dir()


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The generator's marker in ``folder``, or None if it is missing or unreadable."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(folder: Path, marker: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a finished set whose marker equals ``marker``."""
    found = read_marker(folder)
    if found is None or found != json.loads(json.dumps(marker)):
        return False
    return all((folder / "annotations" / f"instances_{s}.json").is_file() for s in ("train", "val"))


def temp_sibling(folder: Path, tag: str) -> Path:
    """A fresh hidden path beside ``folder`` (same file system, so a rename is atomic)."""
    return folder.parent / f".{folder.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def publish(tmp: Path, folder: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` folder to ``folder`` in one rename.

    An existing empty ``folder`` is replaced; a non-empty one only with ``overwrite`` (renamed
    aside first, then deleted), else :class:`FileExistsError`.
    """
    old: Path | None = None
    if folder.exists():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        elif overwrite:
            old = temp_sibling(folder, "old")
            os.replace(folder, old)
        else:
            raise FileExistsError(f"{folder}: exists and is not empty (pass overwrite=True)")
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) across processes.

    The operating system drops the lock when its holder dies, so a crash never leaves it stale.

    Raises:
        TimeoutError: the lock was not free within ``timeout`` seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: still locked by another process after {timeout:.0f} s")
            time.sleep(0.2)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
