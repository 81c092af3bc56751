"""The run folder of :func:`relnet_detector.train`: its files, the checks before training, and
the training state a checkpoint carries for an exact resume.

::

    out_dir/config.toml       the configuration (save_config)
    out_dir/checkpoint.pt     the latest checkpoint (weights, config, category map, training state)
    out_dir/metrics.jsonl     the metrics log (:mod:`relnet_detector.metrics_log`)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relnet_core.files import check_writable

from . import distributed
from .checkpoint import config_differences, read_detector_payload
from .config import DetectorConfig
from .datasets.categories import CategoryMap
from .distributed import DistInfo
from .rng_state import set_rng_state

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.toml"
RUN_INFO = "run.json"
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


def prepare_run_folder(
    out: Path, config: DetectorConfig, resume: bool, info: DistInfo
) -> dict[str, Any] | None:
    """Check the run folder before any work (rank 0; every process fails together) and read the
    checkpoint to resume from (every process, so each restores its own RNG state)."""
    error = None
    ckpt = out / CHECKPOINT
    if info.is_main:
        try:
            if out.exists() and not out.is_dir():
                raise ValueError(f"{out} is a file, not a run folder: choose another folder")
            out.mkdir(parents=True, exist_ok=True)
            check_writable(ckpt)
            if ckpt.exists() and not resume:
                raise ValueError(
                    f"{out} already holds a checkpoint: pass resume=True (--resume) to continue "
                    "it, or choose another folder"
                )
            check_writable(out / CONFIG)
        except (OSError, ValueError) as err:
            error = str(err) if isinstance(err, ValueError) else f"cannot write to {out}: {err}"
    error = distributed.first_error(error, info)
    if error is not None:
        raise ValueError(error)
    if not resume:
        return None
    if not ckpt.exists():
        if info.is_main:
            warnings.warn(f"no checkpoint in {out} to resume from: starting afresh", stacklevel=3)
        return None
    return read_detector_payload(ckpt, map_location="cpu")


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
