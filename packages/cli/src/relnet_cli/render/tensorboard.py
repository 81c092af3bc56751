"""``relnet train --tensorboard``: the scalars of ``metrics.jsonl`` mirrored into TensorBoard
event files under ``RUN_DIR/tensorboard/`` (``tensorboard --logdir RUN_DIR``).

Step records become ``train/NAME`` at their global step, epoch records ``epoch/NAME`` at their
epoch (the val ``mAP`` among them). The count of records already mirrored is kept in
``tensorboard/mirrored.json``, so a resumed run appends only what is new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relnet_core.files import write_json

from ..errors import CliError

FOLDER = "tensorboard"
EXTRA = 'pip install "relnet-cli[tensorboard]"'
NOT_SCALARS = {"kind", "epoch", "step"}


def summary_writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or a :class:`CliError` naming the extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CliError(f"--tensorboard needs the tensorboard package: {EXTRA}") from None
    return SummaryWriter


class TensorBoardMirror:
    """Writes the records of a run's metrics log that are not mirrored yet."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / FOLDER
        self.writer_class = summary_writer_class()
        self.writer: Any = None
        self.done = 0
        state = self.folder / "mirrored.json"
        if state.is_file():
            self.done = int(json.loads(state.read_text()).get("records", 0))

    def update(self, records: list[dict[str, Any]]) -> None:
        """Mirror ``records[done:]`` (all records of the log, in order)."""
        new = records[self.done :]
        if not new:
            return
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.writer = self.writer_class(log_dir=str(self.folder))
        for record in new:
            kind = record.get("kind")
            x = record.get("step") if kind == "step" else record.get("epoch")
            if kind not in ("step", "epoch") or not isinstance(x, int):
                continue
            prefix = "train" if kind == "step" else "epoch"
            for name, value in record.items():
                if name in NOT_SCALARS or isinstance(value, bool):
                    continue
                if isinstance(value, int | float):
                    self.writer.add_scalar(f"{prefix}/{name}", float(value), x)
        self.writer.flush()
        self.done = len(records)
        write_json(self.folder / "mirrored.json", {"records": self.done})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
