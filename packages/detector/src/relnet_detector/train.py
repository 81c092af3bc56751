"""Training the detector on a COCO folder: one process or many (torchrun, DDP), exact resume.

As torchvision's detection references: SGD with momentum and weight decay, linear warm-up then
step decay (:mod:`relnet_detector.schedule`), gradient clipping, mixed precision on CUDA
(``torch.autocast`` + ``GradScaler``). The same code runs as ``python`` (one process) or under
``torchrun --nproc_per_node N`` (DDP; gloo on CPUs, NCCL on GPUs): each process takes its share of
every epoch (``DistributedSampler``), gradients are averaged by DDP, logged losses are averaged
over processes, and rank 0 alone writes the run folder::

    out_dir/config.toml       the configuration (save_config)
    out_dir/checkpoint.pt     the latest checkpoint: every checkpoint_every steps and each epoch end
    out_dir/metrics.jsonl     one JSON line per log_every steps and one per epoch

Reproducibility: the seed fixes the initial weights, the data order, and (per image, from the
seed, the epoch and the image, :mod:`relnet_detector.seeding`) the augmentation and the RPN's and
RoI heads' sampling. So a run resumed from a mid-epoch checkpoint ends with parameters
bit-identical to an uninterrupted run's (on the CPU; CUDA kernels such as RoIAlign's backward are
not deterministic), and N processes on batches of B take the same step as one process on N·B
images, up to float summation order.
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from relnet_dedup.serialization import check_writable
from relnet_dedup.validation import check_float, check_int

from . import distributed
from .checkpoint import config_differences, read_detector_payload, save_detector
from .config import DetectorConfig, TrainConfig, save_config
from .datasets.categories import CategoryMap
from .datasets.coco import CocoFolder, collate, train_transforms
from .distributed import DistInfo
from .metrics_log import MetricsLog
from .progress import TrainProgress
from .schedule import warmup_step_scheduler
from .seeding import EpochSampler, SeededItems, install_seeded_samplers, mix_seed, seeded_sampling

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.toml"
# TrainConfig fields a resumed run may change: they do not change what is computed.
RESUMABLE_CHANGES = ("epochs", "workers", "checkpoint_every", "log_every")


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        model: the trained detector (unwrapped from DDP), in eval mode.
        config: the run's configuration.
        categories: the training set's category map (also in the checkpoint).
        out_dir: the run folder.
        checkpoint: its latest checkpoint.
        epoch: epochs completed.
        step: optimizer steps taken in all (global steps, counting those before a resume).
        finished: whether all ``config.train.epochs`` were done (False when ``max_steps`` stopped
            the run early).
        skipped_images: images that failed to decode, over all processes and epochs.
        history: the ``"epoch"`` records of ``metrics.jsonl``.
    """

    model: nn.Module
    config: DetectorConfig
    categories: CategoryMap
    out_dir: Path
    checkpoint: Path
    epoch: int
    step: int
    finished: bool
    skipped_images: int
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _State:
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


def train(
    config: DetectorConfig,
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train a detector on ``data_dir``'s ``train`` split and write the run folder ``out_dir``.

    Args:
        config (DetectorConfig): model and training configuration.
        data_dir (str | PathLike): a COCO folder (``images/``,
            ``annotations/instances_train.json``).
        out_dir (str | PathLike): the run folder (created if needed).
        resume (bool): continue from ``out_dir/checkpoint.pt`` at its epoch and step (parameters
            end bit-identical to an uninterrupted run's); without a checkpoint, start fresh.
        device (str | torch.device, optional): ``"cpu"``, ``"cuda"`` (under torchrun the
            ``LOCAL_RANK``-th GPU) or a device; CUDA when available by default.
        progress (bool): show a progress bar (rank 0 only).
        max_steps (int, optional): stop (with a checkpoint) after this many global steps, e.g. to
            split a run into pieces; None trains all epochs.

    Returns:
        TrainResult: the model, the checkpoint and the counts.

    Raises:
        ValueError: a bad configuration; a malformed COCO folder; ``out_dir`` not writable or
            holding a checkpoint while ``resume`` is False; a checkpoint of another configuration
            or class count; a non-finite loss or gradient (naming epoch and step; the last good
            checkpoint is kept).
    """
    from .model import build_detector

    if not isinstance(config, DetectorConfig):
        raise ValueError(f"config must be a DetectorConfig, got {type(config).__name__}")
    _check_train_config(config.train)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, low=1)
    tc = config.train
    info = distributed.setup(device)
    try:
        out = Path(out_dir)
        dataset = _open_data(data_dir, tc, info)
        payload = _prepare_out_dir(out, config, resume, info)
        categories = dataset.categories

        _seed_everything(tc.seed)
        model = build_detector(config.model, categories.num_classes).to(info.device)
        samplers = install_seeded_samplers(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(
            params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay
        )
        sampler = EpochSampler(len(dataset), info.world_size, info.rank, tc.seed)
        iters_per_epoch = math.ceil(len(sampler) / tc.batch_size)
        scheduler = warmup_step_scheduler(
            optimizer,
            iters_per_epoch=iters_per_epoch,
            warmup_iters=tc.warmup_iters,
            warmup_factor=tc.warmup_factor,
            lr_steps=tc.lr_steps,
            gamma=tc.lr_gamma,
        )
        use_amp = tc.amp and info.device.type == "cuda"
        scaler = torch.amp.GradScaler(info.device.type, enabled=use_amp)

        state = _State()
        if payload is not None:
            state = _restore(
                payload,
                out / CHECKPOINT,
                config,
                categories,
                model,
                optimizer,
                scheduler,
                scaler,
                info,
            )
        if info.is_main:  # after the checks: a refused resume leaves the folder as it was
            save_config(config, out / CONFIG)
        ddp: nn.Module = model
        if info.distributed:
            ddp = DistributedDataParallel(
                model, device_ids=[info.device.index] if info.device.type == "cuda" else None
            )
        loop = _Loop(
            config,
            out,
            dataset,
            categories,
            model,
            ddp,
            samplers,
            optimizer,
            scheduler,
            scaler,
            sampler,
            use_amp,
            info,
            state,
            iters_per_epoch,
        )
        finished = loop.run(progress=progress and info.is_main, max_steps=max_steps)
        return TrainResult(
            model.eval(),
            config,
            categories,
            out,
            out / CHECKPOINT,
            state.epoch,
            state.step,
            finished,
            state.skipped,
            state.history,
        )
    finally:
        distributed.cleanup(info)


class NonFiniteLossError(ValueError):
    """The loss or the gradient of a step is NaN or infinite; training stopped."""


class _Loop:
    """The epoch and step loop of :func:`train` (its state lives in ``state``)."""

    def __init__(
        self,
        config: DetectorConfig,
        out: Path,
        dataset: CocoFolder,
        categories: CategoryMap,
        model: nn.Module,
        ddp: nn.Module,
        samplers: Sequence[Any],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        scaler: torch.amp.GradScaler,
        sampler: EpochSampler,
        use_amp: bool,
        info: DistInfo,
        state: _State,
        iters_per_epoch: int,
    ) -> None:
        self.config, self.tc, self.out = config, config.train, out
        self.dataset, self.categories = dataset, categories
        self.model, self.ddp, self.samplers = model, ddp, samplers
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler
        self.sampler, self.use_amp, self.info = sampler, use_amp, info
        self.state, self.iters_per_epoch = state, iters_per_epoch
        self.log = MetricsLog(
            out / METRICS, enabled=info.is_main, resume_step=state.step if state.step else None
        )
        self._saved: tuple[int, int, int] | None = None
        self._window: list[Tensor] = []
        self._window_images = 0
        self._window_start = time.perf_counter()

    def run(self, *, progress: bool, max_steps: int | None) -> bool:
        """Train until the last epoch or ``max_steps``; whether all epochs were done."""
        st, tc = self.state, self.tc
        total = tc.epochs * self.iters_per_epoch
        done = st.epoch * self.iters_per_epoch + st.step_in_epoch
        with TrainProgress(progress, total, completed=min(done, total)) as bar:
            while st.epoch < tc.epochs:
                if max_steps is not None and st.step >= max_steps:
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
                    if max_steps is not None and st.step >= max_steps:
                        self._save()
                        return False
                record = self._epoch_record()
                st.epoch, st.step_in_epoch = st.epoch + 1, 0
                st.epoch_sums, st.epoch_images, st.epoch_seconds = {}, 0, 0.0
                st.history.append(record)
                self.log.write(record)
                self._save()
                bar.log(
                    f"epoch {st.epoch}/{tc.epochs}  loss {record['loss']:.4f}  "
                    f"{record['images_per_s']:.1f} img/s"
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

    def _save(self) -> None:
        """Every process sends its RNG state; rank 0 writes the checkpoint."""
        st, info = self.state, self.info
        position = (st.epoch, st.step_in_epoch, st.step)
        if position == self._saved:  # e.g. checkpoint_every and max_steps on the same step
            return
        self._saved = position
        rng = distributed.all_gather_object(_rng_state(info.device), info)
        if not info.is_main:
            return
        scheduler_state = self.scheduler.state_dict()
        scheduler_state["lr_lambdas"] = [None] * len(scheduler_state["lr_lambdas"])
        training = {
            **asdict(st),
            "world_size": info.world_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler_state,
            "scaler": self.scaler.state_dict(),
            "rng": rng,
        }
        save_detector(self.out / CHECKPOINT, self.model, self.config, self.categories, training)


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


def _check_train_config(tc: TrainConfig) -> None:
    """ValueError naming the field of a training hyperparameter of the wrong type or range."""
    for name in ("epochs", "batch_size"):
        check_int(f"train.{name}", getattr(tc, name), low=1)
    for name in ("warmup_iters", "workers", "checkpoint_every", "log_every", "seed"):
        check_int(f"train.{name}", getattr(tc, name), low=0)
    check_float("train.lr", tc.lr, low=0.0, low_open=True, high_open=True)
    check_float("train.momentum", tc.momentum, low=0.0, high=1.0, high_open=True)
    check_float("train.weight_decay", tc.weight_decay, low=0.0, high_open=True)
    check_float("train.warmup_factor", tc.warmup_factor, low=0.0, high=1.0, low_open=True)
    check_float("train.lr_gamma", tc.lr_gamma, low=0.0, high=1.0, low_open=True)
    check_float("train.clip_grad_norm", tc.clip_grad_norm, low=0.0, high_open=True)
    check_float("train.hflip", tc.hflip, low=0.0, high=1.0)
    for k, epoch in enumerate(tc.lr_steps):
        check_int(f"train.lr_steps[{k}]", epoch, low=1)


def _open_data(data_dir: str | os.PathLike[str], tc: TrainConfig, info: DistInfo) -> CocoFolder:
    """The training split, checked; ranks other than 0 keep the file's warnings to themselves."""
    with warnings.catch_warnings():
        if not info.is_main:
            warnings.simplefilter("ignore")
        try:
            dataset = CocoFolder(data_dir, "train", transforms=train_transforms(tc.hflip))
        except FileNotFoundError as err:
            raise ValueError(str(err)) from err
    return dataset


def _prepare_out_dir(
    out: Path, config: DetectorConfig, resume: bool, info: DistInfo
) -> dict[str, Any] | None:
    """Check the run folder before any work (rank 0; every process fails together) and read the
    checkpoint to resume from (every process, so each restores its own RNG state)."""
    error = None
    ckpt = out / CHECKPOINT
    if info.is_main:
        try:
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


def _restore(
    payload: dict[str, Any],
    path: Path,
    config: DetectorConfig,
    categories: CategoryMap,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
    info: DistInfo,
) -> _State:
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
        state = _State(**{k: training[k] for k in _State.__dataclass_fields__})
        rng = training["rng"]
        if int(training["world_size"]) == info.world_size:
            _set_rng_state(rng[info.rank], info.device)
        else:
            warnings.warn(
                f"{path} was written by {training['world_size']} processes, this run has "
                f"{info.world_size}: training continues, but not bit-identically",
                stacklevel=3,
            )
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        raise ValueError(f"cannot resume from {path}: malformed training state ({err})") from err
    return state


# The global numpy and Python RNGs are seeded, saved and restored (not replaced by Generators)
# because user transforms and third-party code draw from them.
def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict[str, Any]:
    """This process's RNG states as plain types and tensors (``weights_only`` loadable)."""
    version, mt, gauss = random.getstate()
    np_state: Any = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    version, mt, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in mt), gauss))
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
