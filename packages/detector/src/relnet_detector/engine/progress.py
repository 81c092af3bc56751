"""A rich progress bar over training steps: epoch, loss, images per second and ETA (stderr)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["TrainProgress"]


class TrainProgress:
    """Context manager; does nothing when ``enabled`` is False (``progress=False``, rank > 0).

    Args:
        enabled (bool): show the bar.
        total (int): steps of the whole run.
        completed (int): steps already done (a resumed run).
    """

    def __init__(self, enabled: bool, total: int, completed: int = 0) -> None:
        self._progress: Progress | None = None
        self._task: Any = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} img/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True, log_path=False),  # a time stamp, no source path
            )
            self._task = self._progress.add_task(
                "training", total=total, completed=completed, loss="-", rate="-"
            )

    def __enter__(self) -> TrainProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, epoch: int, epochs: int, loss: float, images_per_s: float) -> None:
        """One step done."""
        if self._progress is not None:
            self._progress.update(
                self._task,
                advance=1,
                description=f"epoch {epoch}/{epochs}",
                loss=f"{loss:.4f}",
                rate=f"{images_per_s:.1f}",
            )

    def log(self, line: str) -> None:
        """A line above the bar."""
        if self._progress is not None:
            self._progress.console.log(line)
