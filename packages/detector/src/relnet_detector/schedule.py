"""The learning-rate schedule of torchvision's detection references, per iteration.

Linear warm-up from ``warmup_factor * lr`` to ``lr`` over ``warmup_iters`` steps (torchvision's
``LinearLR`` in the first epoch), then step decay: multiplied by ``gamma`` after each epoch in
``lr_steps`` (torchvision's ``MultiStepLR`` with milestones in epochs). One ``LambdaLR`` stepped
every iteration, so its state is a single counter and resuming mid-epoch is exact.

The steps are stated with the run's length (as detectron2's and mmdetection's configs state
theirs); :func:`scale_lr_steps` moves them with a new length, keeping each at the same fraction
of the run (``tiny``'s step after epoch 3 of 4 is after epoch 9 of 12).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import torch


class WarmupStepFactor:
    """``iteration -> lr factor``: linear warm-up times ``gamma ** (epoch milestones passed)``."""

    def __init__(
        self,
        iters_per_epoch: int,
        warmup_iters: int,
        warmup_factor: float,
        lr_steps: Sequence[int],
        gamma: float,
    ) -> None:
        self.iters_per_epoch = max(int(iters_per_epoch), 1)
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = float(warmup_factor)
        self.lr_steps = sorted(int(e) for e in lr_steps)
        self.gamma = float(gamma)

    def __call__(self, iteration: int) -> float:
        warm = 1.0
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            warm = self.warmup_factor * (1.0 - alpha) + alpha
        epoch = iteration // self.iters_per_epoch
        return warm * self.gamma ** bisect.bisect_right(self.lr_steps, epoch)


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


def warmup_step_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    iters_per_epoch: int,
    warmup_iters: int,
    warmup_factor: float,
    lr_steps: Sequence[int],
    gamma: float,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` of :class:`WarmupStepFactor`, stepped once per iteration.

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.02)
        >>> sched = warmup_step_scheduler(
        ...     opt, iters_per_epoch=10, warmup_iters=5, warmup_factor=0.001, lr_steps=(3,),
        ...     gamma=0.1,
        ... )
    """
    factor = WarmupStepFactor(iters_per_epoch, warmup_iters, warmup_factor, lr_steps, gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
