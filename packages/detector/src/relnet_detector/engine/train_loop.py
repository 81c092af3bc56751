"""The epoch and step loop of :func:`relnet_detector.train`: one optimizer step per batch (AMP,
clipping, the non-finite check, losses averaged over processes), the metrics log, checkpoints.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..config import DetectorConfig
from ..datasets.coco import CocoFolder, collate
from ..datasets.coco.categories import CategoryMap
from . import distributed
from .checkpoint import TrainState, save_training_checkpoint
from .distributed import DistInfo
from .metrics_log import MetricsLog
from .progress import TrainProgress
from .rng_state import get_rng_state
from .run_folder import BEST, CHECKPOINT, METRICS, keep_best
from .seeding import EpochSampler, SeededItems, mix_seed, seeded_sampling

__all__ = ["NonFiniteLossError", "TrainLoop", "TrainLoopConfig"]

if TYPE_CHECKING:
    from ..modeling.model import RelationDetector


class NonFiniteLossError(ValueError):
    """The loss or the gradient of a step is NaN or infinite; training stopped."""


@dataclass(frozen=True)
class TrainLoopConfig:
    """What :class:`TrainLoop` runs: built once by :func:`relnet_detector.train`.

    Attributes:
        config: the run's configuration.
        out: the run folder.
        dataset: the train split; ``val_dataset`` the val split of the per-epoch mAP, or None.
        categories: the train split's category map (saved in every checkpoint).
        model: the detector; ``ddp`` the module that runs it (itself, or its DDP wrapper).
        samplers: the seeded RPN and RoI samplers (:func:`install_seeded_samplers`).
        optimizer, scheduler, scaler: the optimizer, its per-step schedule, AMP's scaler.
        sampler: this process's share of every epoch.
        use_amp: mixed precision on.
        info: this process's place in the run.
        iters_per_epoch: optimizer steps per epoch.
    """

    config: DetectorConfig
    out: Path
    dataset: CocoFolder
    categories: CategoryMap
    model: RelationDetector
    ddp: nn.Module
    samplers: Sequence[Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    sampler: EpochSampler
    use_amp: bool
    info: DistInfo
    iters_per_epoch: int
    val_dataset: CocoFolder | None = None


class TrainLoop:
    """The epoch and step loop of :func:`relnet_detector.train` (its position and running sums
    live in ``state``, which every checkpoint saves).

    Args:
        setup (TrainLoopConfig): the model, data, optimizer and the rest it runs.
        state (TrainState): where to start (a fresh state, or a checkpoint's).
    """

    def __init__(self, setup: TrainLoopConfig, state: TrainState) -> None:
        self.setup = setup
        self.config, self.tc, self.out = setup.config, setup.config.train, setup.out
        self.dataset, self.categories = setup.dataset, setup.categories
        self.model, self.ddp, self.samplers = setup.model, setup.ddp, setup.samplers
        self.optimizer, self.scheduler = setup.optimizer, setup.scheduler
        self.scaler, self.sampler = setup.scaler, setup.sampler
        self.use_amp, self.info = setup.use_amp, setup.info
        self.state, self.iters_per_epoch = state, setup.iters_per_epoch
        self.val_dataset = setup.val_dataset
        self.log = MetricsLog(
            self.out / METRICS,
            enabled=self.info.is_main,
            resume_step=state.step if state.step else None,
        )
        self._saved: tuple[int, int, int] | None = None
        self._window: list[Tensor] = []
        self._window_images = 0
        self._window_start = time.perf_counter()

    def run(self, *, progress: bool, max_steps: int | None, deadline: float | None = None) -> bool:
        """Train until the last epoch, ``max_steps`` or the ``time.monotonic()`` ``deadline``
        (checked after every step, agreed by every process); whether all epochs were done."""
        st, tc = self.state, self.tc
        total = tc.epochs * self.iters_per_epoch
        done = st.epoch * self.iters_per_epoch + st.step_in_epoch
        first = st.step  # a time budget stops after one step of this call at the earliest
        with TrainProgress(progress, total, completed=min(done, total)) as bar:
            while st.epoch < tc.epochs:
                if max_steps is not None and st.step >= max_steps:
                    return False
                if st.step > first and self._out_of_time(deadline):  # the epoch end saved
                    return False
                self.sampler.set_epoch(st.epoch, start=st.step_in_epoch * tc.batch_size)
                tick = time.perf_counter()
                for images, targets, failed in self._loader():
                    losses, names, n_images = self._step(images, targets, failed)
                    st.epoch_seconds += time.perf_counter() - tick  # data loading included
                    tick = time.perf_counter()
                    st.epoch_images += n_images
                    for name, value in zip(["loss", *names], losses.tolist(), strict=True):
                        st.epoch_sums[name] = st.epoch_sums.get(name, 0.0) + value
                    bar.update(st.epoch + 1, tc.epochs, float(losses[0]), self._images_per_s())
                    if tc.log_every and st.step % tc.log_every == 0:
                        self._log_window(names)
                    if tc.checkpoint_every and st.step % tc.checkpoint_every == 0:
                        self._save()
                    # the last step of an epoch stops after the epoch's bookkeeping, below
                    epoch_left = st.step_in_epoch < self.iters_per_epoch
                    if max_steps is not None and st.step >= max_steps and epoch_left:
                        self._save()
                        return False
                    if epoch_left and self._out_of_time(deadline):
                        self._save()
                        return False
                record = {**self._epoch_record(), **self._validate()}
                st.epoch, st.step_in_epoch = st.epoch + 1, 0
                st.epoch_sums, st.epoch_images, st.epoch_seconds = {}, 0, 0.0
                st.history.append(record)
                self.log.write(record)
                self._save()
                self._keep_best()
                val = f"  val mAP {100 * record['mAP']:.1f}" if "mAP" in record else ""
                bar.log(
                    f"epoch {st.epoch}/{tc.epochs}  loss {record['loss']:.4f}  "
                    f"{record['images_per_s']:.1f} img/s{val}"
                )
        return True

    def _loader(self) -> DataLoader[Any]:
        tc = self.tc
        return DataLoader(
            SeededItems(self.dataset),
            batch_size=tc.batch_size,
            sampler=self.sampler,
            num_workers=tc.workers,
            collate_fn=_collate_counting,
            pin_memory=self.info.device.type == "cuda",
            generator=torch.Generator().manual_seed(tc.seed),  # keeps the global RNG untouched
        )

    def _step(
        self, images: list[Tensor], targets: list[dict[str, Any]], failed: int
    ) -> tuple[Tensor, list[str], int]:
        """One optimizer step; the losses averaged over processes ``[1 + L]`` (total first)."""
        st, tc, info = self.state, self.tc, self.info
        device = info.device
        images = [im.as_subclass(Tensor).to(device, non_blocking=True) for im in images]
        targets = [
            {
                "boxes": t["boxes"].as_subclass(Tensor).to(device, non_blocking=True),
                "labels": t["labels"].to(device, non_blocking=True),
                "image_id": t["image_id"],
            }
            for t in targets
        ]
        seeds = [mix_seed(tc.seed, st.epoch, t["image_id"]) for t in targets]
        weight = 1.0
        if not images:  # every image of this batch failed to decode
            images, targets, seeds, weight = _blank_batch(device)
        self.ddp.train()
        with (
            seeded_sampling(self.samplers, seeds),
            torch.autocast(device.type, enabled=self.use_amp),
        ):
            loss_dict = self.ddp(images, targets)
            if weight != 1.0:
                loss_dict = {k: v * weight for k, v in loss_dict.items()}
        names = sorted(loss_dict)
        loss = sum((loss_dict[k] for k in names), torch.zeros((), device=device))
        local = torch.stack(
            [loss.detach().float()] + [loss_dict[k].detach().float() for k in names]
        )
        counts = torch.tensor([len(images) * weight, failed], dtype=torch.float64, device=device)
        losses = distributed.all_reduce_mean(local, info)  # [1 + L]
        n_images, n_failed = (int(c) for c in distributed.all_reduce_sum(counts, info).tolist())
        where = f"epoch {st.epoch + 1}, step {st.step + 1}"
        if not bool(torch.isfinite(losses).all()):
            values = ", ".join(
                f"{k} {float(v):.4g}" for k, v in zip(names, losses[1:], strict=True)
            )
            raise NonFiniteLossError(
                f"non-finite loss at {where} ({values}); training stopped, the last good "
                f"checkpoint {self.out / CHECKPOINT} is kept"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)  # no-op without AMP
        with_grad = [p for p in self.model.parameters() if p.grad is not None]
        if tc.clip_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(with_grad, tc.clip_grad_norm)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in with_grad if p.grad is not None])
        if not self.use_amp and not bool(torch.isfinite(norm)):  # AMP's scaler skips such steps
            raise NonFiniteLossError(
                f"non-finite gradient at {where}; training stopped, the last good "
                f"checkpoint {self.out / CHECKPOINT} is kept"
            )
        if n_images > 0:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():  # the schedule counts steps, taken or passed over
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler")
            self.scheduler.step()
        st.step += 1
        st.step_in_epoch += 1
        st.skipped += n_failed
        self._window.append(losses)
        self._window_images += n_images
        return losses, names, n_images

    def _images_per_s(self) -> float:
        elapsed = time.perf_counter() - self._window_start
        return self._window_images / elapsed if elapsed > 0 else 0.0

    def _log_window(self, names: list[str]) -> None:
        st = self.state
        mean = torch.stack(self._window).mean(0).tolist()  # [1 + L]
        record: dict[str, Any] = {
            "kind": "step",
            "epoch": st.epoch + 1,
            "step": st.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "loss": mean[0],
            **dict(zip(names, mean[1:], strict=True)),
            "images_per_s": self._images_per_s(),
            "skipped_images": st.skipped,
        }
        self.log.write(record)
        self._window, self._window_images = [], 0
        self._window_start = time.perf_counter()

    def _epoch_record(self) -> dict[str, Any]:
        """The current epoch's means (also over the steps before a resume)."""
        st = self.state
        steps = max(st.step_in_epoch, 1)
        means = {k: v / steps for k, v in st.epoch_sums.items()}
        return {
            "kind": "epoch",
            "epoch": st.epoch + 1,
            "step": st.step,
            "loss": means.pop("loss", float("nan")),
            **means,
            "images": st.epoch_images,
            "seconds": st.epoch_seconds,
            "images_per_s": st.epoch_images / st.epoch_seconds if st.epoch_seconds > 0 else 0.0,
            "skipped_images": st.skipped,
        }

    def _validate(self) -> dict[str, Any]:
        """``mAP``, ``mAP50`` and ``mAP75`` (COCOeval, 0-1) of the training remover on the first
        ``val_images`` val images, on rank 0 (the others wait at the checkpoint that follows);
        the random number generators are left as they were, so that resume stays exact."""
        if self.val_dataset is None:
            return {}
        from ..evaluation.evaluate import evaluate

        devices = [self.info.device] if self.info.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            result = evaluate(
                self.model,
                self.val_dataset,
                [self.config.model.remover],
                categories=self.categories,
                progress=False,
                max_images=self.tc.val_images,
            )
        stats = result.rows[0].stats
        return {
            "mAP": stats["AP"],
            "mAP50": stats["AP50"],
            "mAP75": stats["AP75"],
            "val_images": result.images,
        }

    def _save(self) -> None:
        """Every process sends its RNG state; rank 0 writes the checkpoint."""
        st, info = self.state, self.info
        position = (st.epoch, st.step_in_epoch, st.step)
        if position == self._saved:  # e.g. checkpoint_every and max_steps on the same step
            return
        self._saved = position
        rng = distributed.all_gather_object(get_rng_state(info.device), info)
        error = None
        if info.is_main:
            try:
                self._write_checkpoint(rng)
            except (OSError, ValueError) as err:
                error = f"cannot write checkpoint {self.out / CHECKPOINT}: {err}"
        error = distributed.first_error(error, info)  # no process waits on one that failed
        if error is not None:
            raise ValueError(error)

    def _out_of_time(self, deadline: float | None) -> bool:
        """Whether ``deadline`` is past on any process (so that all stop at the same step)."""
        if deadline is None:
            return False
        late = torch.tensor([float(time.monotonic() >= deadline)], device=self.info.device)
        return bool(distributed.all_reduce_sum(late, self.info)[0] > 0)

    def _keep_best(self) -> None:
        """Rank 0 copies the epoch's checkpoint to ``best.pt`` if its val mAP is the best."""
        error = None
        if self.info.is_main:
            try:
                keep_best(self.out, self.state.history)
            except (OSError, ValueError) as err:
                error = f"cannot write {self.out / BEST}: {err}"
        error = distributed.first_error(error, self.info)
        if error is not None:
            raise ValueError(error)

    def _write_checkpoint(self, rng: list[Any]) -> None:
        save_training_checkpoint(
            self.out / CHECKPOINT,
            self.model,
            self.config,
            self.categories,
            self.state,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            rng=rng,
            world_size=self.info.world_size,
        )


def _blank_batch(
    device: torch.device,
) -> tuple[list[Tensor], list[dict[str, Any]], list[int], float]:
    """A stand-in for a batch whose every image failed to decode: one black image without
    objects, its losses weighted 0. The model still runs (same loss names, every weight in the
    graph), so DDP's gradient averaging stays in step with the other processes; a world of one
    then skips the optimizer step (no image)."""
    image = torch.zeros(3, 32, 32, device=device)
    target = {
        "boxes": torch.zeros(0, 4, device=device),
        "labels": torch.zeros(0, dtype=torch.int64, device=device),
        "image_id": -1,
    }
    return [image], [target], [0], 0.0


def _collate_counting(batch: list[Any]) -> tuple[list[Tensor], list[dict[str, Any]], int]:
    images, targets = collate(batch)
    return images, targets, len(batch) - len(images)
