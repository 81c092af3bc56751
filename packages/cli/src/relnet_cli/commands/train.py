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
from ..runs import CHECKPOINT, write_run_info


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
        str, typer.Option(help="A preset (tiny, r50-fpn) or a .toml file of the configuration.")
    ] = "tiny",
    out: Annotated[
        Path | None,
        typer.Option(
            help="The run folder (config.toml, checkpoint.pt, metrics.jsonl, curves.png). "
            "Default: runs/PRESET-TIMESTAMP.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Override the preset's epochs.", show_default=False)
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
    from relnet_detector.config import load_config

    config = _override(load_config(preset), epochs, seed)
    run_dir = out if out is not None else _default_run_dir(preset)
    data_dir = data if data is not None else _builtin_data()
    main = is_main_process()
    from ..render.watch import CurveWatcher

    watcher = CurveWatcher(run_dir) if main else None
    if main and (resume or not (run_dir / CHECKPOINT).exists()):  # else train() refuses
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_info(run_dir, data=data_dir, preset=preset)
    from relnet_detector.train import train as train_detector

    with watcher if watcher is not None else contextlib.nullcontext():
        result = train_detector(
            config, data_dir, run_dir, resume=resume, device=device, max_steps=max_steps
        )
    if main:
        stdout().print(_summary(result))


def _override(config: Any, epochs: int | None, seed: int | None) -> Any:
    from dataclasses import replace

    changes: dict[str, int] = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if seed is not None:
        changes["seed"] = seed
    return replace(config, train=replace(config.train, **changes)) if changes else config


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
        ("next", f"relnet eval {result.out_dir}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table
