"""``relnet data synth``: write the built-in synthetic relation benchmark as a COCO folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..console import stdout

app = typer.Typer(rich_markup_mode="rich", no_args_is_help=True, help="Datasets.")


@app.command("synth")
def synth(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write (images/, annotations/instances_{train,val}.json). "
            "Default: the cached built-in benchmark that `relnet train` uses.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="The whole set is a function of it.")] = None,
    train: Annotated[int | None, typer.Option(min=0, help="Number of training images.")] = None,
    val: Annotated[int | None, typer.Option(min=0, help="Number of validation images.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
) -> None:
    """Generate the built-in benchmark (deterministic from its seed) in COCO layout.

    Objects whose class only their neighbours tell, crowds of overlapping same-class objects and
    clutter: a set on which relations between objects matter. Without [bold]--out[/bold] it fills
    the cache that [bold]relnet train[/bold] uses by default.

    [bold]Example:[/bold]

        relnet data synth --out data/synth --train 2000 --val 500 --seed 0
    """
    from dataclasses import replace

    from relnet_detector.datasets.synthetic import (
        SyntheticConfig,
        ensure_synthetic,
        generate_synthetic,
    )

    given: dict[str, Any] = {"seed": seed, "train": train, "val": val}
    changes = {k: v for k, v in given.items() if v is not None}
    config = replace(SyntheticConfig(), **changes)
    if out is None:
        folder = ensure_synthetic(config, progress=True)
    else:
        folder = generate_synthetic(out, config, overwrite=overwrite, progress=True)
    stdout().print(f"{folder}: {config.train} training and {config.val} validation images")
