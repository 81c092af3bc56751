"""Output: rich consoles, the rank that prints under torchrun, and result tables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


def is_main_process() -> bool:
    """True but in the processes of rank > 0 that ``torchrun`` starts (they print nothing)."""
    return os.environ.get("RANK", "0") == "0"


PIPE_WIDTH = 160  # columns of a table written to a file or a pipe (rich's default there: 80)


def stdout() -> Console:
    """A console on the current ``sys.stdout`` (so that test runners capture it); written to a
    file or a pipe without ``COLUMNS`` set, it is :data:`PIPE_WIDTH` wide, so that a table in a
    log is not cut to 80 columns."""
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    """A console on the current ``sys.stderr``, for progress and notes."""
    return Console(stderr=True)


def coco_table(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    timings: Sequence[tuple[float, float]] | None = None,
    crowd: Sequence[Sequence[float]] | None = None,
) -> Table:
    """One row per remover: mAP, mAP50, mAP75, small, medium, large (x100); optional crowd
    numbers and timings.

    COCOeval's -1 (no ground truth of that size) and NaN (no crowd) show as ``-``.

    Args:
        title: the table's title.
        rows: ``(remover, COCOeval's 12 numbers)``.
        timings: per row ``(network ms / image, removal ms / image)``.
        crowd: per row ``(crowd-scene AP, crowd-member recall at IoU 0.5, at 0.75)``.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("remover", no_wrap=True)
    for name in ("mAP", "mAP50", "mAP75", "small", "medium", "large"):
        table.add_column(name, justify="right")
    if crowd is not None:
        for name in ("crowd AP", "crowd R@.5", "crowd R@.75"):
            table.add_column(name, justify="right")
    if timings is not None:
        table.add_column("network ms/img", justify="right")
        table.add_column("removal ms/img", justify="right")
    for k, (name, stats) in enumerate(rows):
        cells = [name, *(_percent(s) for s in stats[:6])]
        if crowd is not None:
            cells += [_percent(s) for s in crowd[k]]
        if timings is not None:
            cells += [f"{timings[k][0]:.1f}", f"{timings[k][1]:.2f}"]
        table.add_row(*cells)
    return table


def per_class_table(
    title: str,
    categories: Sequence[tuple[int, str]],
    rows: Sequence[tuple[str, Sequence[Mapping[int, float]]]],
) -> Table:
    """One row per category (its dataset id and name), one column per remover holding its AP,
    AP50 and AP75 on that category (x100; ``-`` without ground truth of the category).

    Args:
        title: the table's title.
        categories: ``(dataset id, name)`` in label order.
        rows: ``(remover, (AP, AP50, AP75 by category id))``.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("category", no_wrap=True)
    for name, _ in rows:
        table.add_column(f"{name}\nAP / AP50 / AP75", justify="right")
    for category, label in categories:
        cells = [str(category), label]
        for _, by_iou in rows:
            cells.append(" / ".join(_percent(per.get(category, -1.0)) for per in by_iou))
        table.add_row(*cells)
    return table


def _percent(value: float) -> str:
    return f"{100 * value:.1f}" if value >= 0 else "-"  # NaN >= 0 is False


class RateColumn(ProgressColumn):
    """Items per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-" if speed is None else f"{speed:.2f} {self.unit}/s", style="cyan")


def progress_bar(unit: str) -> Progress:
    """A transient bar on stderr: description, bar, done/total, rate, elapsed and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
        disable=not is_main_process(),
    )
