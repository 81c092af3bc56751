"""Argument checks and the divergence stop of :func:`relnet_dedup.fit` (issue 10, defect 2): every
hyperparameter and image is checked, and the checkpoint's folder, before any work; training stops
with an error naming the step as soon as the loss or a gradient is not finite."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from relnet_core.checks import check_choice, check_float, check_int
from relnet_core.files import check_writable

from .._checks import check_flag
from ..data import ImageDetections
from ..network.config import DedupConfig
from ..network.module import DuplicateRemovalNetwork

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class FitSettings:
    """The checked numbers of :func:`fit` (numpy scalars become Python numbers)."""

    epochs: int
    batch_size: int
    first_n: int
    seed: int
    lr: float
    weight_decay: float
    pos_weight: float
    score_threshold: float
    device: torch.device | None


def check_fit_arguments(
    *,
    images: object,
    config: object,
    epochs: object,
    lr: object,
    optimizer: object,
    weight_decay: object,
    batch_size: object,
    pos_weight: object,
    score_threshold: object,
    first_n: object,
    seed: object,
    checkpoint: object,
    device: object,
    verbose: object,
    resume: object,
) -> FitSettings:
    """Check every argument of :func:`fit` before any work (the checkpoint's folder included)."""
    if not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise ValueError(
            f"images must be a list of ImageDetections or dicts, got {type(images).__name__}"
        )
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got none")
    if config is not None and not isinstance(config, DedupConfig):
        raise ValueError(f"config must be a DedupConfig or None, got {type(config).__name__}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    for name, flag in [("verbose", verbose), ("resume", resume)]:
        check_flag(name, flag)
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            raise ValueError(f"checkpoint must be a path or None, got {type(checkpoint).__name__}")
        check_writable(checkpoint)
    try:
        dev = None if device is None else torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device, got {device!r} ({err})") from None
    return FitSettings(
        epochs=check_int("epochs", epochs, low=1),
        batch_size=check_int("batch_size", batch_size, low=1),
        first_n=check_int("first_n", first_n, low=1),
        seed=check_int("seed", seed, low=-(2**63), high=2**64 - 1),
        lr=check_float("lr", lr, low=0.0, low_open=True, high_open=True),
        weight_decay=check_float("weight_decay", weight_decay, low=0.0, high_open=True),
        pos_weight=check_float("pos_weight", pos_weight, low=0.0, low_open=True, high_open=True),
        score_threshold=check_float(
            "score_threshold", score_threshold, low=-math.inf, low_open=True, high_open=True
        ),
        device=dev,
    )


def coerce_image(index: int, item: ImageDetections | Mapping[str, object]) -> ImageDetections:
    """``ImageDetections.coerce``, with the image's position in the message of any error."""
    try:
        return ImageDetections.coerce(item)
    except ValueError as err:
        raise ValueError(f"images[{index}]: {err}") from None


def finite_gradients(model: DuplicateRemovalNetwork) -> bool:
    """Whether every gradient of ``model`` is finite (one norm per parameter, one sync)."""
    norms = [torch.linalg.vector_norm(p.grad) for p in model.parameters() if p.grad is not None]
    return not norms or bool(torch.isfinite(torch.stack(norms)).all())


def diverged(
    value: float,
    epoch: int,
    step: int,
    steps: int,
    checkpoint: str | os.PathLike[str] | None,
    history: Sequence[Any],
) -> ValueError:
    """The error that stops training on a non-finite loss or gradient (before the update)."""
    what = f"the loss is {value}" if not math.isfinite(value) else "a gradient is not finite"
    if checkpoint is None:
        kept = "no checkpoint was requested"
    elif history:
        kept = f"{os.fspath(checkpoint)} holds the last good epoch ({history[-1].epoch})"
    else:
        kept = f"{os.fspath(checkpoint)} was not written by this run (no epoch finished)"
    return ValueError(
        f"training stopped at epoch {epoch}, step {step} of {steps}: {what}; {kept}. "
        "Lower lr, or check the inputs and pos_weight."
    )
