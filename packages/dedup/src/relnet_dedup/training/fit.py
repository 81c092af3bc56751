"""Training the duplicate removal network alone on a detector's raw output (paper §4.3, §5.2).

Per image and class the detections with ``s0 > score_threshold``, at most ``first_n`` of them, get
multi-threshold targets (:func:`batched_assign_duplicate_targets`); every step pads a batch of
such groups of similar size and minimises :func:`dedup_loss`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from ..data import ImageDetections
from ..io.checkpoint import read_checkpoint, save_checkpoint
from ..network.config import DedupConfig
from ..network.module import DuplicateRemovalNetwork
from ._fit_checks import check_fit_arguments, coerce_image, diverged, finite_gradients
from .batches import build_training_groups
from .loss import dedup_loss

Optimizer = Literal["adam", "sgd"]


@dataclass(frozen=True)
class EpochStats:
    """One epoch of training: mean loss over its steps, steps taken, seconds spent."""

    epoch: int
    loss: float
    steps: int
    seconds: float


@dataclass
class FitResult:
    """The trained network (in eval mode) and one :class:`EpochStats` per epoch."""

    model: DuplicateRemovalNetwork
    history: list[EpochStats] = field(default_factory=list)


def fit(
    images: Sequence[ImageDetections | Mapping[str, object]],
    config: DedupConfig | None = None,
    *,
    epochs: int = 10,
    lr: float = 3e-3,
    optimizer: Optimizer = "adam",
    weight_decay: float = 0.0,
    batch_size: int = 16,
    pos_weight: float = 1.0,
    score_threshold: float = 0.01,
    first_n: int = 100,
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
    resume: bool = False,
) -> FitResult:
    """Train a :class:`DuplicateRemovalNetwork` on per-image raw detections and ground truth.

    Args:
        images: per-image :class:`ImageDetections` (or dicts with the keys ``boxes [N, 4]``,
            ``scores [N]``, ``labels [N]``, ``gt_boxes [G, 4]``, ``gt_labels [G]`` and optional
            ``features [N, D]``), boxes ``(x1, y1, x2, y2)`` in pixels.
        config (DedupConfig, optional): the network; by default the paper's, with
            ``feat_dim = D`` when the images carry features and no appearance input otherwise.
        epochs (int): passes over all groups.
        lr (float): peak learning rate, decayed to 0 along a cosine over all steps.
        optimizer (str): ``"adam"`` or ``"sgd"`` (momentum 0.9).
        weight_decay (float): L2 penalty of the optimizer.
        batch_size (int): groups (image x class) per step, padded into one batch.
        pos_weight (float): weight of the positive (correct) terms of the loss (1 trains better
            than the authors' 4 on the synthetic benchmark, see the README).
        score_threshold (float): only detections with ``s0 > score_threshold`` are used.
        first_n (int): at most this many detections per image and class (the highest ``s0``).
        seed (int): the same seed gives identical weights (initialisation and batch order).
        checkpoint (str | PathLike, optional): written atomically after every epoch, with the
            optimizer, scheduler and batch order, so training can resume.
        resume (bool): continue from ``checkpoint`` if it exists, after its last finished epoch;
            the result equals an uninterrupted run with the same arguments.
        device (torch.device | str, optional): where to train; the images' device by default.
        verbose (bool): print one line per epoch (and a progress bar when ``rich`` is installed).

    Returns:
        FitResult: the trained model in eval mode and the per-epoch history.
    """
    settings = check_fit_arguments(
        images=images,
        config=config,
        epochs=epochs,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        batch_size=batch_size,
        pos_weight=pos_weight,
        score_threshold=score_threshold,
        first_n=first_n,
        seed=seed,
        checkpoint=checkpoint,
        device=device,
        verbose=verbose,
        resume=resume,
    )
    epochs, batch_size, seed = settings.epochs, settings.batch_size, settings.seed
    data = [coerce_image(i, item) for i, item in enumerate(images)]
    device = settings.device if settings.device is not None else data[0].boxes.device
    config = config if config is not None else _default_config(data)
    groups = build_training_groups(data, config, settings.score_threshold, settings.first_n, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DuplicateRemovalNetwork(config).to(device)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(groups.num_groups / batch_size)
    opt = _optimizer(model, optimizer, settings.lr, settings.weight_decay)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    )
    history: list[EpochStats] = []
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        history = _restore(checkpoint, model, opt, sched, gen)
    with _Reporter(verbose, total) as report:
        for epoch in range(len(history) + 1, epochs + 1):
            start, losses = time.perf_counter(), []
            model.train()
            for step, ids in enumerate(groups.batches(batch_size, gen), start=1):
                batch = groups.batch(ids)
                logits = model(batch.boxes, batch.scores, batch.valid, batch.features)  # [B, M, T]
                loss = dedup_loss(
                    logits, batch.scores, batch.targets, batch.valid, pos_weight=settings.pos_weight
                )
                opt.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                value = float(loss.detach())
                if not (math.isfinite(value) and finite_gradients(model)):
                    raise diverged(value, epoch, step, steps_per_epoch, checkpoint, history)
                opt.step()
                sched.step()
                losses.append(value)
                report.advance()
            stats = EpochStats(
                epoch, sum(losses) / len(losses), len(losses), time.perf_counter() - start
            )
            history.append(stats)
            if checkpoint is not None:
                training = {
                    "history": [asdict(h) for h in history],
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": gen.get_state(),
                }
                save_checkpoint(model, checkpoint, training)
            report.log(f"epoch {epoch}/{epochs}  loss {stats.loss:.5f}  ({stats.seconds:.1f} s)")
    return FitResult(model.eval(), history)


def _restore(
    path: str | os.PathLike[str],
    model: DuplicateRemovalNetwork,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
) -> list[EpochStats]:
    """Load the training state of checkpoint ``path`` into the arguments; its history."""
    payload = read_checkpoint(path, map_location=next(model.parameters()).device)
    if payload["config"] != model.config.to_dict() or "training" not in payload:
        raise ValueError(
            f"cannot resume from {path}: it holds no training state or another configuration "
            f"({payload['config']} != {model.config.to_dict()})"
        )
    training = payload["training"]
    try:
        model.load_state_dict(payload["state_dict"])
        opt.load_state_dict(training["optimizer"])
        sched.load_state_dict(training["scheduler"])
        gen.set_state(training["generator"].cpu())
        return [EpochStats(**h) for h in training["history"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"cannot resume from {path}: malformed training state ({err})") from err


def _default_config(data: Sequence[ImageDetections]) -> DedupConfig:
    feats = data[0].features
    if feats is None:
        return DedupConfig(use_appearance=False)
    return DedupConfig(feat_dim=int(feats.shape[1]))


def _optimizer(
    model: DuplicateRemovalNetwork, name: Optimizer, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)


class _Reporter:
    """Epoch lines on stderr, and a transient ``rich`` progress bar over the steps if installed."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Reporter:
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import Progress
            except ImportError:
                return self
            self._progress = Progress(console=Console(stderr=True, log_path=False), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("training", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def log(self, line: str) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.log(line)
        else:
            print(line, file=sys.stderr, flush=True)
