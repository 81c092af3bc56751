"""Self-describing detector checkpoints: weights, configuration, category map, training state.

The payload holds only plain types and tensors::

    {"version": "0.1.0", "config": DetectorConfig.to_dict(), "categories": CategoryMap.to_dict(),
     "state_dict": {...}, "training": {...} | absent}

and goes through ``relnet_core.checkpoints`` (atomic write, checksum, the umask respected,
stale temporary files cleaned, ``torch.load(weights_only=True)``: loading never runs code from the
file). Every failure is a ``ValueError`` naming the path.

The training half is here too: :class:`TrainState` (the loop's position and running sums),
:func:`save_training_checkpoint` (what :func:`relnet_detector.train` writes every
``checkpoint_every`` steps) and :func:`restore_training` (an exact resume from it).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relnet_core.checkpoints import load_versioned_file, save_file

from .._version import __version__
from ..config import DetectorConfig
from ..datasets.coco.categories import CategoryMap
from .distributed import DistInfo
from .rng_state import set_rng_state

__all__ = [
    "FORMAT",
    "RESUMABLE_CHANGES",
    "LoadedDetector",
    "TrainState",
    "check_compatible",
    "config_differences",
    "load_detector",
    "read_detector_payload",
    "restore_training",
    "save_detector",
    "save_training_checkpoint",
]

FORMAT = "relnet-detector/checkpoint"
# TrainConfig fields a resumed run may change: they do not change what is computed.
RESUMABLE_CHANGES = ("epochs", "workers", "checkpoint_every", "log_every", "val_images")


@dataclass
class TrainState:
    """The loop's position (epochs completed, steps into the current epoch, global steps), the
    current epoch's running sums, and the epoch records so far; saved in every checkpoint."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    skipped: int = 0
    epoch_sums: dict[str, float] = field(default_factory=dict)
    epoch_images: int = 0
    epoch_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    data_fingerprint: str = ""


@dataclass
class LoadedDetector:
    """A checkpoint read back.

    Attributes:
        model: the detector (``build_detector(config.model, categories.num_classes)``) with the
            saved weights, in eval mode.
        config: the run's configuration.
        categories: the dataset's category ids and names in label order.
        training: the training state (optimizer, scheduler, RNG, epoch, step), or None.
    """

    model: nn.Module
    config: DetectorConfig
    categories: CategoryMap
    training: dict[str, Any] | None


def save_detector(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: DetectorConfig,
    categories: CategoryMap,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``model`` atomically.

    Args:
        path (str | PathLike): destination file; its folder must exist and be writable.
        model (nn.Module): the detector (a ``DistributedDataParallel`` wrapper is unwrapped); its
            tensors are saved on the CPU.
        config (DetectorConfig): the configuration it was built and trained with.
        categories (CategoryMap): the dataset's category map.
        training (dict, optional): what :func:`relnet_detector.train` resumes from; plain types
            and tensors only.

    Returns:
        Path: ``path``.

    Raises:
        ValueError: the arguments are not a detector, config and category map, or ``path``
            cannot be written.
    """
    module = getattr(model, "module", model)
    if not isinstance(module, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, DetectorConfig):
        raise ValueError(f"config must be a DetectorConfig, got {type(config).__name__}")
    if not isinstance(categories, CategoryMap):
        raise ValueError(f"categories must be a CategoryMap, got {type(categories).__name__}")
    payload: dict[str, Any] = {
        "version": __version__,
        "config": config.to_dict(),
        "categories": categories.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
    }
    if training is not None:
        payload["training"] = training
    written: Path = save_file(payload, path, format=FORMAT)
    return written


def read_detector_payload(
    path: str | os.PathLike[str], map_location: str | torch.device | None = None
) -> dict[str, Any]:
    """The checked payload of a checkpoint (format, checksum and version); see
    :func:`load_detector` for the errors."""
    path = Path(path)
    payload = load_versioned_file(
        path,
        format=FORMAT,
        package="relnet-detector",
        installed=__version__,
        map_location=map_location,
    )
    for key in ("config", "categories", "state_dict"):
        if key not in payload:
            raise ValueError(f"checkpoint {path} is malformed: it has no {key!r}")
    return payload


def load_detector(
    path: str | os.PathLike[str],
    map_location: str | torch.device | None = None,
    *,
    config: DetectorConfig | None = None,
    categories: CategoryMap | None = None,
    num_classes: int | None = None,
) -> LoadedDetector:
    """Rebuild the detector of a checkpoint (``weights_only=True``: no code from the file runs).

    Args:
        path (str | PathLike): the checkpoint.
        map_location (str | torch.device, optional): where to put the tensors and the model.
        config (DetectorConfig, optional): the model configuration the caller expects.
        categories (CategoryMap, optional): the dataset the caller will use it on; its class
            count and category ids must match the checkpoint's.
        num_classes (int, optional): the class count the caller expects (without background).

    Returns:
        LoadedDetector: model (eval mode), config, categories and training state.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: corrupt file, not a relnet-detector checkpoint, an incompatible version,
            weights that do not match the stored config, or an expected config, class count or
            category map that differs; the message names the path.
    """
    from ..modeling.model import build_detector  # the model imports heavy parts; only when loading

    path = Path(path)
    payload = read_detector_payload(path, map_location)
    try:
        saved_config = DetectorConfig.from_dict(payload["config"])
        saved_categories = CategoryMap.from_dict(payload["categories"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} is malformed: {err}") from err
    check_compatible(path, saved_config, saved_categories, config, categories, num_classes)
    try:
        model = build_detector(saved_config.model, saved_categories.num_classes)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"checkpoint {path}: its weights do not match its configuration ({err})"
        ) from err
    if map_location is not None:
        model.to(map_location)
    training = payload.get("training")
    return LoadedDetector(model.eval(), saved_config, saved_categories, training)


def check_compatible(
    path: Path,
    saved_config: DetectorConfig,
    saved_categories: CategoryMap,
    config: DetectorConfig | None = None,
    categories: CategoryMap | None = None,
    num_classes: int | None = None,
) -> None:
    """Raise ``ValueError`` naming ``path`` when the expected model config, class count or
    category map differs from the checkpoint's."""
    if num_classes is None and categories is not None:
        num_classes = categories.num_classes
    if num_classes is not None and num_classes != saved_categories.num_classes:
        raise ValueError(
            f"checkpoint {path} has {saved_categories.num_classes} classes, "
            f"the dataset has {num_classes}"
        )
    if categories is not None and categories.dataset_ids != saved_categories.dataset_ids:
        raise ValueError(
            f"checkpoint {path} has category ids {list(saved_categories.dataset_ids)}, "
            f"the dataset has {list(categories.dataset_ids)}"
        )
    if config is not None:
        changes = config_differences(
            {"model": saved_config.to_dict()["model"]},
            {"model": config.to_dict()["model"]},
        )
        if changes:
            raise ValueError(
                f"checkpoint {path} was trained with another model configuration: "
                + "; ".join(changes)
            )


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"model.head.hidden_dim is 64 in the checkpoint, 128 here"`` for every differing leaf."""
    out: list[str] = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += [f"{key}.{line}" for line in config_differences(a, b)]
        elif a != b:
            out.append(f"{key} is {a!r} in the checkpoint, {b!r} here")
    return out


def save_training_checkpoint(
    path: Path,
    model: nn.Module,
    config: DetectorConfig,
    categories: CategoryMap,
    state: TrainState,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
    rng: list[Any],
    world_size: int,
) -> Path:
    """:func:`save_detector` with the training state an exact resume needs: ``state``, the
    optimizer's, scheduler's (without its lambdas) and scaler's states and every process's RNG
    state (``rng``, in rank order)."""
    scheduler_state = scheduler.state_dict()
    scheduler_state["lr_lambdas"] = [None] * len(scheduler_state["lr_lambdas"])
    training = {
        **asdict(state),
        "world_size": world_size,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler_state,
        "scaler": scaler.state_dict(),
        "rng": rng,
    }
    return save_detector(path, model, config, categories, training)


def restore_training(
    payload: dict[str, Any],
    path: Path,
    config: DetectorConfig,
    categories: CategoryMap,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
    info: DistInfo,
) -> TrainState:
    """Load a checkpoint's training state into the arguments (exact resume)."""
    saved = payload["config"]
    current = config.to_dict()
    for key in RESUMABLE_CHANGES:
        saved.get("train", {}).pop(key, None)
        current["train"].pop(key, None)
    changes = config_differences(saved, current)
    if changes:
        raise ValueError(
            f"cannot resume from {path}: it was trained with another configuration: "
            + "; ".join(changes)
        )
    saved_categories = CategoryMap.from_dict(payload["categories"])
    if saved_categories.num_classes != categories.num_classes:
        raise ValueError(
            f"cannot resume from {path}: checkpoint {path} has {saved_categories.num_classes} "
            f"classes, the dataset has {categories.num_classes}"
        )
    if saved_categories.dataset_ids != categories.dataset_ids:
        raise ValueError(
            f"cannot resume from {path}: its category ids {list(saved_categories.dataset_ids)} "
            f"differ from the dataset's {list(categories.dataset_ids)}"
        )
    training = payload.get("training")
    if not isinstance(training, dict):
        raise ValueError(f"cannot resume from {path}: it holds no training state")
    try:
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(training["optimizer"])
        scheduler_state = dict(training["scheduler"])
        scheduler_state.pop("lr_lambdas", None)
        scheduler.load_state_dict({**scheduler_state, "lr_lambdas": [None]})
        scaler.load_state_dict(training["scaler"])
        state = TrainState(
            **{k: training[k] for k in TrainState.__dataclass_fields__ if k in training}
        )
        rng = training["rng"]
        if int(training["world_size"]) == info.world_size:
            set_rng_state(rng[info.rank], info.device)
        else:
            warnings.warn(
                f"{path} was written by {training['world_size']} processes, this run has "
                f"{info.world_size}: training continues, but not bit-identically",
                stacklevel=3,
            )
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        raise ValueError(f"cannot resume from {path}: malformed training state ({err})") from err
    return state
