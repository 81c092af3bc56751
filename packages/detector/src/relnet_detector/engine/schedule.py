"""The learning-rate schedule of torchvision's detection references, per iteration.

Linear warm-up from ``warmup_factor * lr`` to ``lr`` over ``warmup_iters`` steps (torchvision's
``LinearLR`` in the first epoch), then step decay: multiplied by ``gamma`` after each epoch in
``lr_steps`` (torchvision's ``MultiStepLR`` with milestones in epochs). One ``LambdaLR`` stepped
every iteration, so its state is a single counter and resuming mid-epoch is exact.

The steps are stated with the run's length; :func:`relnet_detector.config.scale_lr_steps` moves
them with a new length (:mod:`relnet_detector.config.schedule`, re-exported here).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import torch

from ..config.schedule import describe_schedule, scale_lr_steps

__all__ = [
    "WarmupStepFactor",
    "describe_schedule",
    "scale_lr_steps",
    "warmup_step_scheduler",
]


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
