"""``curves.png`` of a run folder, drawn from its ``metrics.jsonl`` and redrawn as it grows."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..runs import CURVES, METRICS
from .curves import Chart, Line, draw_charts

if TYPE_CHECKING:
    from .tensorboard import TensorBoardMirror

SKIP = {"kind", "epoch", "step", "lr", "images", "seconds", "images_per_s", "skipped_images"}


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a line cut short (a run still writing) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def charts(records: list[dict[str, Any]]) -> list[Chart]:
    """Training losses per step; per epoch the mean loss and any mAP the log holds."""
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    loss_names = sorted(
        {k for r in steps for k, v in r.items() if k not in SKIP and isinstance(v, int | float)},
        key=lambda k: (k != "loss", k),
    )
    map_names = sorted({k for r in epochs for k in r if k.lower().startswith("map")})
    title = "validation mAP" if map_names else "mean loss per epoch"
    return [
        Chart("training loss", "step", _lines(steps, "step", loss_names)),
        Chart(title, "epoch", _lines(epochs, "epoch", map_names or ["loss"])),
    ]


def _lines(records: list[dict[str, Any]], x: str, names: list[str]) -> list[Line]:
    """One line per name: ``(record[x], record[name])`` of the records that have ``name``."""
    return [
        Line(
            name,
            [_number(r.get(x)) for r in records if r.get(name) is not None],
            [float(r[name]) for r in records if r.get(name) is not None],
        )
        for name in names
    ]


def draw_run_curves(run_dir: Path) -> Path | None:
    """Draw ``run_dir/curves.png`` from ``run_dir/metrics.jsonl``; None if there is no log."""
    metrics = run_dir / METRICS
    if not metrics.is_file():
        return None
    return draw_charts(charts(read_records(metrics)), run_dir / CURVES)


class CurveWatcher:
    """Redraws ``curves.png`` whenever ``metrics.jsonl`` changes, in a background thread, and
    once more on a clean exit (``with CurveWatcher(run_dir): train(...)``); a refused or failed
    training leaves the picture as it was. With ``mirror``, the new records also go to
    TensorBoard."""

    def __init__(
        self, run_dir: Path, interval: float = 2.0, mirror: TensorBoardMirror | None = None
    ) -> None:
        self.run_dir = run_dir
        self.mirror = mirror
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="relnet-curves", daemon=True)
        self._seen: tuple[float, int] | None = None

    def _changed(self) -> bool:
        try:
            stat = (self.run_dir / METRICS).stat()
        except OSError:
            return False
        seen = (stat.st_mtime, stat.st_size)
        changed, self._seen = seen != self._seen, seen
        return changed

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self._changed():  # a picture is not worth stopping training for: retried later
                with contextlib.suppress(OSError, ValueError):
                    draw_run_curves(self.run_dir)
                    self._mirror()

    def _mirror(self) -> None:
        if self.mirror is not None and (self.run_dir / METRICS).is_file():
            self.mirror.update(read_records(self.run_dir / METRICS))

    def __enter__(self) -> CurveWatcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if exc is None:
            draw_run_curves(self.run_dir)
        self._mirror()  # what was trained is worth keeping, even if training then failed
        if self.mirror is not None:
            self.mirror.close()
