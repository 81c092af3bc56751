"""The run folder's metrics log: one JSON object per line (``metrics.jsonl``).

Lines of ``"kind": "step"`` (every ``log_every`` steps: epoch, step, learning rate, each loss
averaged over the steps since the previous line and over processes, images per second) and of
``"kind": "epoch"`` (the epoch's means). Only rank 0 writes; a resumed run first drops the lines
written after its checkpoint, so the log reads as if the run had never stopped.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from relnet_core.files import write_text

__all__ = ["MetricsLog", "read_metrics"]


class MetricsLog:
    """Append-only JSON-lines writer.

    Args:
        path (Path): the ``metrics.jsonl`` file.
        enabled (bool): False on ranks other than 0 (nothing is written).
        resume_step (int, optional): on resume, the checkpoint's global step: lines of later
            steps are dropped; None starts a new, empty log.
    """

    def __init__(self, path: Path, *, enabled: bool, resume_step: int | None = None) -> None:
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        kept: list[str] = []
        if resume_step is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if isinstance(record, dict) and int(record.get("step", 0)) <= resume_step:
                    kept.append(line)
        write_text(path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line (non-finite numbers become null)."""
        if not self.enabled:
            return
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of a ``metrics.jsonl`` file, in order."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
