"""The ``relnet`` command (console script ``relnet = relnet_cli.main:app``).

Every command parses its arguments, calls one library function and renders the result. The
libraries are imported inside the commands, so ``relnet --help`` and ``relnet dedup ...`` never
import the detector (torchvision and its friends).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .commands import bench, data, dedup, evaluate, explain, export, predict, train
from .errors import RelnetGroup
from .versions import version_lines

app = typer.Typer(
    cls=RelnetGroup,
    name="relnet",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
    help="""Relation Networks for Object Detection (Hu et al., CVPR 2018): train, evaluate,
predict, explain, and learned NMS for any detector.

[bold]Example:[/bold] train the [italic]tiny[/italic] preset on the built-in benchmark, then
evaluate it with NMS, Soft-NMS and the learned remover:

    relnet train --out runs/tiny
    relnet eval runs/tiny --dedup nms,soft-nms,e2e
""",
)


def _print_version(value: bool) -> None:
    if value:
        for line in version_lines():
            typer.echo(line)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version of every relnet package (and torch, torchvision) and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the full traceback of an error instead of one line."),
    ] = False,
) -> None:
    """Relation Networks for Object Detection: the ``relnet`` command."""


app.add_typer(data.app, name="data")
app.add_typer(dedup.app, name="dedup")
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("predict")(predict.predict)
app.command("explain")(explain.explain)
app.command("export")(export.export)
app.command("bench")(bench.bench)
