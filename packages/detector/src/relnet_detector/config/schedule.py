"""The schedule helpers of a configuration: a run moved to another length, its steps following,
and the one-line description ``relnet train`` prints.

The learning-rate steps are stated with the run's length (as detectron2's and mmdetection's
configs state theirs); :func:`scale_lr_steps` moves them with a new length, keeping each at the
same fraction of the run (``tiny``'s step after epoch 3 of 4 is after epoch 9 of 12).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import DetectorConfig

__all__ = ["describe_schedule", "scale_lr_steps", "with_epochs"]


def with_epochs(
    config: DetectorConfig, epochs: int, lr_steps: Sequence[int] | None = None
) -> DetectorConfig:
    """``config`` trained for ``epochs``, its schedule following: the given ``lr_steps``, or the
    config's own moved to the new length at the same fractions of the run
    (:func:`scale_lr_steps`: ``tiny``'s step after epoch 3 of 4 becomes
    a step after epoch 9 of 12). ``train`` checks the result (a step at or after the last epoch
    is an error)."""
    tc = config.train
    steps = scale_lr_steps(tc.lr_steps, tc.epochs, epochs) if lr_steps is None else tuple(lr_steps)
    return dataclasses.replace(config, train=dataclasses.replace(tc, epochs=epochs, lr_steps=steps))


def scale_lr_steps(lr_steps: Sequence[int], epochs: int, new_epochs: int) -> tuple[int, ...]:
    """The steps of an ``epochs``-long schedule moved to ``new_epochs`` at the same fractions:
    ``round(step * new_epochs / epochs)``; a step that lands at 0 or at or past the last epoch
    (where it would never take effect) is dropped, and steps that land together merge.

    Example:
        >>> scale_lr_steps((3,), 4, 12), scale_lr_steps((16, 22), 26, 13)
        ((9,), (8, 11))
        >>> scale_lr_steps((3,), 4, 1)
        ()
    """
    scaled = (round(step * new_epochs / epochs) for step in lr_steps)  # half to even
    return tuple(sorted({step for step in scaled if 1 <= step < new_epochs}))


def describe_schedule(
    lr: float, epochs: int, warmup_iters: int, lr_steps: Sequence[int], gamma: float
) -> str:
    """One line a person reads: ``lr 0.02, warm-up 100 steps, x0.1 after epoch 9 of 12``."""
    parts = [f"lr {lr:g}"]
    if warmup_iters:
        parts.append(f"warm-up {warmup_iters} steps")
    if lr_steps:
        after = ", ".join(str(s) for s in lr_steps)
        parts.append(
            f"x{gamma:g} after epoch{'s' if len(lr_steps) > 1 else ''} {after} of {epochs}"
        )
    else:
        parts.append(f"constant for {epochs} epochs")
    return ", ".join(parts)
