"""``relnet data synth``: write the built-in synthetic relation benchmark as a COCO folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..console import stdout
from ..errors import CliError
from ..files import require_writable_parent

app = typer.Typer(rich_markup_mode="rich", no_args_is_help=True, help="Datasets.")


@app.command("synth")
def synth(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write (images/, annotations/instances_{train,val}.json). "
            "Default: the cache of the built-in benchmark that `relnet train` uses.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="The whole set is a function of it.")] = None,
    train: Annotated[
        int | None, typer.Option(min=0, help="Training images (default 2000).", show_default=False)
    ] = None,
    val: Annotated[
        int | None, typer.Option(min=0, help="Validation images (default 500).", show_default=False)
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Drawing processes (default: the usable cores, at most 8)."),
    ] = None,
    preview: Annotated[
        Path | None,
        typer.Option(
            help="Also draw 8 validation images with their boxes and classes into this PNG.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate the built-in benchmark (deterministic from its seed) in COCO layout.

    Objects whose class only their neighbours tell, crowds of overlapping
    same-class objects and clutter: a set on which relations between objects
    matter. Without [bold]--out[/bold] it fills the cache that [bold]relnet
    train[/bold] uses by default ($RELNET_DATA_DIR, else ~/.cache/relnet).

    [bold]Example:[/bold]

        relnet data synth --out data/synth --train 2000 --val 500 --seed 0
        relnet data synth --out data/small --train 50 --preview small.png
    """
    if out is not None and not overwrite and out.exists():
        if not out.is_dir():
            raise CliError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            raise CliError(f"--out {out} exists and is not empty; pass --overwrite to replace it")
    if preview is not None:
        require_writable_parent(preview, "preview")
    from relnet_detector.datasets.synthetic import (
        SyntheticConfig,
        draw_samples,
        ensure_synthetic,
        generate_synthetic,
    )

    given: dict[str, Any] = {"seed": seed, "train": train, "val": val}
    config = SyntheticConfig(**{k: v for k, v in given.items() if v is not None})
    if out is None:
        folder = ensure_synthetic(config, progress=True, workers=workers)
    else:
        folder = generate_synthetic(
            out, config, overwrite=overwrite, progress=True, workers=workers
        )
    console = stdout()
    console.print(f"{folder}: {config.train} training and {config.val} validation images")
    if preview is not None:
        draw_samples(folder, preview, 8, split="val" if config.val else "train")
        console.print(f"wrote {preview}")
