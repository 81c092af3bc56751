"""Run folders: where a checkpoint is, and which data a run was trained on (``run.json``).

``relnet train`` writes ``RUN_DIR/run.json`` (``{"data": ABSOLUTE_PATH, "preset": ...}``) beside
the library's ``config.toml``, ``checkpoint.pt`` and ``metrics.jsonl``, so that ``relnet eval
RUN_DIR`` evaluates on the validation split of the data it was trained on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relnet_core.files import write_json

from .errors import CliError

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
CONFIG = "config.toml"
METRICS = "metrics.jsonl"
RUN_INFO = "run.json"
CURVES = "curves.png"


def run_info(*, data: Path, preset: str) -> dict[str, str]:
    """What ``run.json`` records of a run: its training data (absolute) and preset."""
    return {"data": str(Path(data).absolute()), "preset": preset}


def write_run_info(run_dir: Path, *, data: Path, preset: str) -> Path:
    """Record the training data and preset of a run in ``run_dir/run.json``."""
    path = run_dir / RUN_INFO
    write_json(path, run_info(data=data, preset=preset), indent=2)
    return path


def read_run_info(folder: Path) -> dict[str, Any]:
    """``run.json`` of a run folder, or ``{}`` when there is none or it is unreadable."""
    try:
        info = json.loads((folder / RUN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def find_checkpoint(run_or_checkpoint: Path, which: str = "last") -> Path:
    """The checkpoint of ``RUN_DIR`` (``checkpoint.pt``, or with ``which="best"`` the
    ``best.pt`` of its best val mAP) or the ``CHECKPOINT`` file itself."""
    path = run_or_checkpoint
    if which not in ("last", "best"):
        raise CliError(f"--checkpoint must be best or last, got {which!r}")
    if path.is_dir():
        checkpoint = path / (BEST if which == "best" else CHECKPOINT)
        if which == "best" and not checkpoint.is_file():
            raise CliError(
                f"run folder {path} holds no {BEST}: it is kept at epochs with a val mAP "
                "(a val split and train.val_images > 0)"
            )
        if not checkpoint.is_file():
            raise CliError(f"run folder {path} holds no {CHECKPOINT} (has training started?)")
        return checkpoint
    if not path.exists():
        raise CliError(f"{path} does not exist (expected a run folder or a checkpoint file)")
    if which == "best":
        raise CliError(f"--checkpoint best needs a run folder, got the file {path}")
    return path


def describe_checkpoint(checkpoint: Path) -> str:
    """Which checkpoint of its run a file is: ``"last"``, or ``best`` with its epoch and mAP."""
    best = read_run_info(checkpoint.parent).get("best")
    if checkpoint.name == BEST and isinstance(best, dict):
        return f"best (epoch {best.get('epoch')}, val mAP {100 * float(best.get('mAP', 0)):.1f})"
    return "last" if checkpoint.name == CHECKPOINT else "given"


def trained_on(checkpoint: Path) -> Path | None:
    """The data folder recorded beside ``checkpoint`` by ``relnet train``, if any."""
    data = read_run_info(checkpoint.parent).get("data")
    return Path(data) if isinstance(data, str) else None
