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


def find_checkpoint(run_or_checkpoint: Path) -> Path:
    """The checkpoint of ``RUN_DIR`` (its ``checkpoint.pt``) or the ``CHECKPOINT`` file itself."""
    path = run_or_checkpoint
    if path.is_dir():
        checkpoint = path / CHECKPOINT
        if not checkpoint.is_file():
            raise CliError(f"run folder {path} holds no {CHECKPOINT} (has training started?)")
        return checkpoint
    if not path.exists():
        raise CliError(f"{path} does not exist (expected a run folder or a checkpoint file)")
    return path


def trained_on(checkpoint: Path) -> Path | None:
    """The data folder recorded beside ``checkpoint`` by ``relnet train``, if any."""
    data = read_run_info(checkpoint.parent).get("data")
    return Path(data) if isinstance(data, str) else None
