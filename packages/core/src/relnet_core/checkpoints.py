"""Checkpoint files: atomic, checksummed, and loaded with ``torch.load(weights_only=True)`` only.

A file written by :func:`save_file` is a ``torch.save`` of the plain dict
``{"format": str, "sha256": str, "payload": bytes}``: ``payload`` is the ``torch.save`` of the
caller's dict (plain Python types and tensors) and ``sha256`` its hex digest, so a flipped byte
anywhere in the payload is detected on load. Both levels load with ``weights_only=True``: loading
a file never runs its code. Writes go through :func:`relnet_core.files.atomic_write`.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from .files import PathLike, atomic_write

__all__ = ["compatible", "load_file", "load_versioned_file", "save_file"]

MapLocation = str | torch.device | None


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


def load_versioned_file(
    path: PathLike,
    *,
    format: str,
    package: str,
    installed: str,
    map_location: MapLocation = None,
) -> dict[str, Any]:
    """:func:`load_file`, then the payload's ``version`` checked against the installed version of
    the package that writes such files (a package's own checkpoints: ``save_file`` of a payload
    whose ``"version"`` is the package's ``__version__``).

    Args:
        path (str | PathLike), format (str), map_location (str | torch.device, optional): as for
            :func:`load_file`.
        package (str): the distribution that writes the files (``"relnet-dedup"``), for the
            message.
        installed (str): its installed version; the payload's must be :func:`compatible` with it.

    Returns:
        dict: the payload.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: as :func:`load_file`, or a version that is not compatible (the message names
            the path and both versions).
    """
    path = Path(path)
    payload = load_file(path, format=format, map_location=map_location)
    version = str(payload.get("version"))
    if not compatible(version, installed):
        raise ValueError(
            f"checkpoint {path} was written by {package} {version}, incompatible with the "
            f"installed {installed} (0.x versions are compatible within one minor version)"
        )
    return payload


def _load(data: bytes, map_location: MapLocation, message: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # the unpickler raises many kinds (KeyError, struct.error, ...)
        # the kind of error only: torch's weights_only advice runs to pages and says nothing
        # about a file that is simply not a checkpoint
        raise ValueError(f"{message}: corrupt or not a torch file ({type(err).__name__})") from err


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
