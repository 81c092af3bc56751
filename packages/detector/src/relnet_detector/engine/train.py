"""Training the detector on a COCO folder: one process or many (torchrun, DDP), exact resume.

As torchvision's detection references: SGD with momentum and weight decay, linear warm-up then
step decay (:mod:`relnet_detector.engine.schedule`), gradient clipping, mixed precision on CUDA
(``torch.autocast`` + ``GradScaler``). The same code runs as ``python`` (one process) or under
``torchrun --nproc_per_node N`` (DDP; gloo on CPUs, NCCL on GPUs): each process takes its share of
every epoch (``DistributedSampler``), gradients are averaged by DDP, logged losses are averaged
over processes, and rank 0 alone writes the run folder::

    out_dir/config.toml       the configuration (save_config)
    out_dir/checkpoint.pt     the latest checkpoint: every checkpoint_every steps and each epoch end
    out_dir/metrics.jsonl     one JSON line per log_every steps and one per epoch (with the
                              mAP on the first val_images images of the val split, if any)

Reproducibility: the seed fixes the initial weights, the data order, and (per image, from the
seed, the epoch and the image, :mod:`relnet_detector.engine.seeding`) the augmentation and the
RPN's and
RoI heads' sampling. So a run resumed from a mid-epoch checkpoint ends with parameters
bit-identical to an uninterrupted run's (on the CPU; CUDA kernels such as RoIAlign's backward are
not deterministic), and N processes on batches of B take the same step as one process on N·B
images, up to float summation order.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from relnet_core.checks import check_choice, check_float, check_int

from ..config import DetectorConfig, TrainConfig, save_config
from ..datasets.coco.categories import CategoryMap
from . import distributed
from .checkpoint import TrainState, restore_training
from .optim import build_optimizer
from .rng_state import seed_everything
from .run_folder import CHECKPOINT, CONFIG, prepare_run_folder, write_run_info
from .schedule import warmup_step_scheduler
from .seeding import EpochSampler, install_seeded_samplers
from .train_loop import NonFiniteLossError, TrainLoop, TrainLoopConfig
from .training_data import open_training_data

if TYPE_CHECKING:
    from ..modeling.model import RelationDetector

__all__ = ["NonFiniteLossError", "TrainResult", "train"]


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

    model: RelationDetector
    config: DetectorConfig
    categories: CategoryMap
    out_dir: Path
    checkpoint: Path
    epoch: int
    step: int
    finished: bool
    skipped_images: int
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
    run_info: Mapping[str, Any] | None = None,
    time_budget_s: float | None = None,
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
        run_info (Mapping, optional): written as ``out_dir/run.json`` (JSON) beside
            ``config.toml``, once every check has passed (``relnet train`` records the data
            folder and preset there).
        time_budget_s (float, optional): stop (with a checkpoint) at the first step boundary
            after this many seconds of training (setup and data checks not counted); every
            process stops at the same step. ``resume=True`` continues the run.

    Returns:
        TrainResult: the model, the checkpoint and the counts.

    Raises:
        ValueError: a bad configuration; a malformed COCO folder (see
            :mod:`relnet_detector.engine.training_data`); ``out_dir`` a file, not writable, or
            holding
            a checkpoint while ``resume`` is False; a checkpoint of another configuration, class
            count or training data; a non-finite loss or gradient (naming epoch and step; the
            last good checkpoint is kept). A refused call leaves ``out_dir`` as it was (a folder
            it created is removed).
    """
    from ..modeling.model import build_detector

    if not isinstance(config, DetectorConfig):
        raise ValueError(f"config must be a DetectorConfig, got {type(config).__name__}")
    _check_train_config(config.train)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, low=1)
    if time_budget_s is not None:
        time_budget_s = check_float("time_budget_s", time_budget_s, low=0.0, low_open=True)
    tc = config.train
    out = Path(out_dir)
    fresh = not out.exists()
    info = distributed.setup(device)
    started = False
    try:
        data = open_training_data(data_dir, tc, info)
        dataset, val_dataset = data.train, data.val
        payload = prepare_run_folder(out, config, resume, info)
        categories = dataset.categories

        seed_everything(tc.seed)
        model = build_detector(config.model, categories.num_classes).to(info.device)
        samplers = install_seeded_samplers(model)
        optimizer = build_optimizer(model, tc)
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

        state = TrainState(data_fingerprint=data.fingerprint)
        if payload is not None:
            state = restore_training(
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
            if state.data_fingerprint not in ("", data.fingerprint):  # "": written before 0.2
                raise ValueError(
                    f"cannot resume from {out / CHECKPOINT}: it was trained on other data than "
                    f"{data_dir} (another set of images or annotations in its train split)"
                )
            state.data_fingerprint = data.fingerprint
            done = state.epoch + (state.step_in_epoch > 0)
            if tc.epochs < done:
                raise ValueError(
                    f"cannot resume {out / CHECKPOINT} with train.epochs = {tc.epochs}: the run "
                    f"{'is in' if state.step_in_epoch else 'has finished'} epoch {done} already "
                    "(a run can be extended, not shortened)"
                )
        if info.is_main:  # after the checks: a refused resume leaves the folder as it was
            save_config(config, out / CONFIG)
            if run_info is not None:
                write_run_info(out, run_info, keep_best=payload is not None)
        started = True
        ddp: nn.Module = model
        if info.distributed:
            ddp = DistributedDataParallel(
                model, device_ids=[info.device.index] if info.device.type == "cuda" else None
            )
        setup = TrainLoopConfig(
            config=config,
            out=out,
            dataset=dataset,
            categories=categories,
            model=model,
            ddp=ddp,
            samplers=samplers,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            sampler=sampler,
            use_amp=use_amp,
            info=info,
            iters_per_epoch=iters_per_epoch,
            val_dataset=val_dataset,
        )
        loop = TrainLoop(setup, state)
        deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
        finished = loop.run(
            progress=progress and info.is_main, max_steps=max_steps, deadline=deadline
        )
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
        if not started and fresh and info.is_main and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a refused call leaves no empty folder behind
        distributed.cleanup(info)


def _check_train_config(tc: TrainConfig) -> None:
    """ValueError naming the field of a training hyperparameter of the wrong type or range."""
    for name in ("epochs", "batch_size"):
        check_int(f"train.{name}", getattr(tc, name), low=1)
    for name in ("warmup_iters", "workers", "checkpoint_every", "log_every", "seed", "val_images"):
        check_int(f"train.{name}", getattr(tc, name), low=0)
    check_float("train.lr", tc.lr, low=0.0, low_open=True, high_open=True)
    check_float("train.dedup_lr_factor", tc.dedup_lr_factor, low=0.0, low_open=True, high_open=True)
    check_choice("train.dedup_optimizer", tc.dedup_optimizer, ("sgd", "adam"))
    check_float("train.momentum", tc.momentum, low=0.0, high=1.0, high_open=True)
    check_float("train.weight_decay", tc.weight_decay, low=0.0, high_open=True)
    check_float("train.warmup_factor", tc.warmup_factor, low=0.0, high=1.0, low_open=True)
    check_float("train.lr_gamma", tc.lr_gamma, low=0.0, high=1.0, low_open=True)
    check_float("train.clip_grad_norm", tc.clip_grad_norm, low=0.0, high_open=True)
    check_float("train.hflip", tc.hflip, low=0.0, high=1.0)
    for k, epoch in enumerate(tc.lr_steps):
        check_int(f"train.lr_steps[{k}]", epoch, low=1)
        if epoch >= tc.epochs:
            raise ValueError(
                f"train.lr_steps[{k}] is {epoch}: a step at or after the last epoch ({tc.epochs}) "
                f"never takes effect; steps must lie in 1 .. {tc.epochs - 1}"
            )
        if k and epoch <= tc.lr_steps[k - 1]:
            raise ValueError(f"train.lr_steps must increase, got {list(tc.lr_steps)}")
