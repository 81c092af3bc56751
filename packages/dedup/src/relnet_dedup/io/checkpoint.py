"""Self-describing checkpoints of the duplicate removal network.

The payload is a plain dict ``{version, config, thresholds, state_dict[, training]}`` holding only
strings, numbers, lists, dicts and tensors, written by :func:`relnet_core.checkpoints.save_file`
(atomic, the umask respected, a sha256 checksum verified on load) and read with
``torch.load(weights_only=True)`` only: loading a file never runs its code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

# compatible: relnet_dedup.checkpoint.compatible of 0.3, kept on the module
from relnet_core.checkpoints import compatible, load_versioned_file, save_file  # noqa: F401

from .._version import __version__
from ..network.config import DedupConfig
from ..network.module import DuplicateRemovalNetwork, check_model

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

    Raises:
        ValueError: ``model`` is not a :class:`DuplicateRemovalNetwork`, or the directory of
            ``path`` is missing or not writable.
    """
    check_model("model", model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "version": __version__,
        "config": model.config.to_dict(),
        "thresholds": list(model.thresholds),
        "state_dict": state,
    }
    if training is not None:
        payload["training"] = training
    return save_file(payload, path, format=FORMAT)


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
        ValueError: the file is corrupt (checksum mismatch, truncated, not a torch file), not a
            relnet-dedup checkpoint, from an incompatible version, or its weights are not finite
            or do not match its configuration; the message names the path.
    """
    path = Path(path)
    payload = read_checkpoint(path, map_location)
    try:
        config = DedupConfig.from_dict(payload["config"])
        model = DuplicateRemovalNetwork(config)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise ValueError(f"checkpoint {path} is malformed: {err}") from err
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"checkpoint {path} holds NaN or inf weights in {name}")
    if map_location is not None:
        model.to(map_location)
    return model.eval()


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = None
) -> dict[str, Any]:
    """The checked payload of a checkpoint file (``weights_only=True``); see :func:`load_checkpoint`
    for the errors."""
    path = Path(path)
    payload = load_versioned_file(
        path,
        format=FORMAT,
        package="relnet-dedup",
        installed=__version__,
        map_location=map_location,
    )
    if not isinstance(payload.get("config"), dict) or not isinstance(
        payload.get("state_dict"), dict
    ):
        raise ValueError(f"checkpoint {path} is malformed: no config or state_dict")
    return payload
