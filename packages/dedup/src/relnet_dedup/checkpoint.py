"""Self-describing checkpoints of the duplicate removal network.

A checkpoint is a plain dict ``{format, version, config, thresholds, state_dict}`` holding only
strings, numbers, lists, dicts and tensors, so it loads with ``torch.load(weights_only=True)``:
loading a file never runs its code. Files are written atomically (a temporary file in the same
directory, then ``os.replace``), so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .network import DedupConfig, DuplicateRemovalNetwork

FORMAT = "relnet-dedup/DuplicateRemovalNetwork"


def save_checkpoint(
    model: DuplicateRemovalNetwork,
    path: str | os.PathLike[str],
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` atomically.

    Args:
        model (DuplicateRemovalNetwork): the network; its tensors are saved on the CPU.
        path (str | PathLike): destination file; its directory must exist.
        training (dict, optional): the state :func:`relnet_dedup.fit` resumes from (epoch,
            optimizer, scheduler, batch-order generator, history), plain types and tensors only.

    Returns:
        Path: ``path``.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": __version__,
        "config": model.config.to_dict(),
        "thresholds": list(model.thresholds),
        "state_dict": state,
    }
    if training is not None:
        payload["training"] = training
    atomic_torch_save(payload, path)
    return path


def atomic_torch_save(payload: object, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` it into place."""
    if not path.parent.is_dir():
        raise ValueError(f"cannot write checkpoint {path}: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = None
) -> DuplicateRemovalNetwork:
    """Rebuild the network saved by :func:`save_checkpoint` (``weights_only=True``, no code runs).

    Args:
        path (str | PathLike): the checkpoint file.
        map_location (str | torch.device, optional): where to put the tensors, as in ``torch.load``.

    Returns:
        DuplicateRemovalNetwork: the network in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupt, not a relnet-dedup checkpoint, from an incompatible
            version, or its weights do not match its configuration; the message names the path.
    """
    path = Path(path)
    payload = read_checkpoint(path, map_location)
    try:
        config = DedupConfig.from_dict(payload["config"])
        model = DuplicateRemovalNetwork(config)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"checkpoint {path} is malformed: {err}") from err
    if map_location is not None:
        model.to(map_location)
    return model.eval()


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = None
) -> dict[str, Any]:
    """The checked payload of a checkpoint file (``weights_only=True``); see :func:`load_checkpoint`
    for the errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise ValueError(
            f"cannot read checkpoint {path}: corrupt or not a torch file ({err})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path} is not a relnet-dedup checkpoint: format {found!r}, expected {FORMAT!r}"
        )
    version = str(payload.get("version"))
    if not compatible(version, __version__):
        raise ValueError(
            f"checkpoint {path} was written by relnet-dedup {version}, incompatible with the "
            f"installed {__version__} (0.x versions are compatible within one minor version)"
        )
    return payload


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
