"""``relnet train``: train a detector on a COCO folder (default: the built-in benchmark).

Calls ``relnet_detector.train.train``; the same command runs as one process or under
``torchrun --nproc_per_node N`` (every process runs it; rank 0 alone prints and writes).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..console import is_main_process, stdout
from ..errors import CliError
from ..files import require_dir
from ..options import resolve_device
from ..runs import CONFIG, read_run_info, run_info


def train(
    data: Annotated[
        Path | None,
        typer.Option(
            help="A COCO folder (images/, annotations/instances_{train,val}.json). "
            "Default: the built-in benchmark, generated into the cache on first use.",
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="A preset (tiny, r50-fpn) or a .toml file of the configuration. Default: tiny; "
            "with --resume, the run's own config.toml.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The run folder (config.toml, checkpoint.pt, metrics.jsonl, curves.png). "
            "Default: runs/PRESET-TIMESTAMP.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Override the preset's epochs; its learning-rate steps move with them, at the "
            "same fractions of the run (tiny: x0.1 after epoch 3 of 4, so after 9 of 12). With "
            "--resume, N above the run's epochs extends it and its steps stay where they were "
            "(the result equals an uninterrupted run of N epochs with those steps).",
            show_default=False,
        ),
    ] = None,
    lr_steps: Annotated[
        str | None,
        typer.Option(
            help="Epochs after which the learning rate falls tenfold (lr_gamma), comma-separated, "
            "each below the last epoch: 8,11. 'none' for a constant rate.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="cpu or cuda (under torchrun: each process's LOCAL_RANK-th GPU). "
            "Default: cuda if available.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its checkpoint, exactly.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Override the preset's seed.", show_default=False)
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            min=1, help="Stop (with a checkpoint) after this many steps.", show_default=False
        ),
    ] = None,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Also write the metrics as TensorBoard scalars into RUN_DIR/tensorboard "
            '(needs pip install "relnet-cli[tensorboard]").',
        ),
    ] = False,
    time_budget: Annotated[
        float | None,
        typer.Option(
            metavar="MINUTES",
            help="Stop (with a checkpoint) at the first step after this many minutes of "
            "training; --resume continues.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a relation-network detector: with no options, [italic]tiny[/italic] on the
    built-in benchmark.

    The run folder gets the configuration, the checkpoint (atomic;
    [bold]--resume[/bold] continues exactly), the metrics log and loss curves
    ([bold]curves.png[/bold], redrawn as training goes). Runs unchanged under
    torchrun, on one node or several.

    [bold]Example:[/bold]

        relnet train
        relnet train --out runs/tiny --epochs 4 --seed 1
        relnet train --data data/coco --preset r50-fpn --out runs/r50
        torchrun --nproc_per_node 4 -m relnet_cli train \\
            --data data/coco --preset r50-fpn --out runs/r50
    """
    if data is not None:
        require_dir(data, "--data")
    if device is not None:
        device = resolve_device(device)
    steps = _parse_steps(lr_steps)
    if time_budget is not None and not time_budget > 0:
        raise typer.BadParameter(
            f"must be a number of minutes above 0, got {time_budget}", param_hint="--time-budget"
        )
    if out is not None and out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file, not a run folder: choose another --out")
    from relnet_detector.config import load_config

    # --resume continues the run's own configuration and data unless told otherwise
    own = out / CONFIG if out is not None and resume else None
    source = preset if preset is not None or own is None or not own.is_file() else str(own)
    recorded = read_run_info(out) if out is not None and resume else {}
    config = load_config(source or "tiny")
    if source == str(own) and epochs is not None and steps is None:
        # extending a run: its learning-rate steps stay where they were
        steps = config.train.lr_steps
    config = _override(config, epochs, steps, seed)
    run_dir = out if out is not None else _default_run_dir(source or "tiny")
    if data is None and isinstance(recorded.get("data"), str):
        data = Path(recorded["data"])
    data_dir = data if data is not None else _builtin_data()
    main = is_main_process()
    from ..render.watch import CurveWatcher

    if main:
        stdout().print(f"schedule: {_schedule(config)}")
    mirror = None
    if tensorboard and main:
        from ..render.tensorboard import TensorBoardMirror

        mirror = TensorBoardMirror(run_dir)
    watcher = CurveWatcher(run_dir, mirror=mirror) if main else None
    from relnet_detector.engine.train import train as train_detector

    info = run_info(data=data_dir, preset=recorded.get("preset") or source or "tiny")
    with watcher if watcher is not None else contextlib.nullcontext():
        result = train_detector(
            config,
            data_dir,
            run_dir,
            resume=resume,
            device=device,
            max_steps=max_steps,
            time_budget_s=None if time_budget is None else 60.0 * time_budget,
            run_info=info,
        )
    if main:
        stdout().print(_summary(result))


def _parse_steps(value: str | None) -> tuple[int, ...] | None:
    """``--lr-steps "8,11"`` as ``(8, 11)``; ``"none"`` as ``()``; a usage error otherwise."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return ()
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(
            f"expected epochs such as 8,11 or 'none', got {value!r}", param_hint="--lr-steps"
        ) from None


def _override(
    config: Any, epochs: int | None, lr_steps: tuple[int, ...] | None, seed: int | None
) -> Any:
    from dataclasses import replace

    from relnet_detector.config import with_epochs

    if epochs is not None or lr_steps is not None:
        config = with_epochs(config, epochs or config.train.epochs, lr_steps)
    if seed is not None:
        config = replace(config, train=replace(config.train, seed=seed))
    return config


def _schedule(config: Any) -> str:
    from relnet_detector.config import describe_schedule

    tc = config.train
    return describe_schedule(tc.lr, tc.epochs, tc.warmup_iters, tc.lr_steps, tc.lr_gamma)


def _default_run_dir(preset: str) -> Path:
    """``runs/NAME-YYYYmmdd-HHMMSS``; under torchrun the same name in every process."""
    name = Path(preset).stem if preset.endswith(".toml") else preset
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id in ("", "none"):
            raise CliError(
                "under torchrun without a rendezvous id, pass --out RUN_DIR "
                "(every process must write to the same folder)"
            )
        return Path("runs") / f"{name}-{run_id}"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _builtin_data() -> Path:
    """The cached built-in benchmark; under torchrun the first process of each node makes it."""
    from relnet_detector.datasets.synthetic import ensure_synthetic

    local_rank = os.environ.get("LOCAL_RANK", "0")
    return ensure_synthetic(wait_only=local_rank != "0", progress=local_rank == "0")


def _summary(result: Any) -> Table:
    table = Table(title=f"trained {result.out_dir}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    last = result.history[-1] if result.history else {}
    rows = [
        ("epochs", f"{result.epoch}/{result.config.train.epochs}"),
        ("steps", str(result.step)),
        ("final epoch loss", f"{last['loss']:.4f}" if last.get("loss") is not None else "-"),
        ("images / s", f"{last.get('images_per_s', 0.0):.1f}"),
        *(
            [(f"val mAP (first {last['val_images']} images)", f"{100 * last['mAP']:.1f}")]
            if "mAP" in last
            else []
        ),
        ("skipped images", str(result.skipped_images)),
        ("checkpoint", str(result.checkpoint)),
        ("curves", str(result.out_dir / "curves.png")),
        (
            "next",
            f"relnet eval {result.out_dir}"
            if result.finished
            else f"relnet train --out {result.out_dir} --resume (stopped before the last epoch)",
        ),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table
