"""The run folder of :func:`relnet_detector.train`: its files and the checks before training (the
training state a checkpoint carries is :mod:`relnet_detector.engine.checkpoint`'s).

::

    out_dir/config.toml       the configuration (save_config)
    out_dir/checkpoint.pt     the latest checkpoint (weights, config, category map, training state)
    out_dir/metrics.jsonl     the metrics log (:mod:`relnet_detector.engine.metrics_log`)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from relnet_core.files import check_writable

from ..config import DetectorConfig
from . import distributed
from .checkpoint import read_detector_payload
from .distributed import DistInfo

__all__ = ["CHECKPOINT", "CONFIG", "METRICS", "RUN_INFO", "prepare_run_folder"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.toml"
RUN_INFO = "run.json"


def prepare_run_folder(
    out: Path, config: DetectorConfig, resume: bool, info: DistInfo
) -> dict[str, Any] | None:
    """Check the run folder before any work (rank 0; every process fails together) and read the
    checkpoint to resume from (every process, so each restores its own RNG state)."""
    error = None
    ckpt = out / CHECKPOINT
    if info.is_main:
        try:
            if out.exists() and not out.is_dir():
                raise ValueError(f"{out} is a file, not a run folder: choose another folder")
            out.mkdir(parents=True, exist_ok=True)
            check_writable(ckpt)
            if ckpt.exists() and not resume:
                raise ValueError(
                    f"{out} already holds a checkpoint: pass resume=True (--resume) to continue "
                    "it, or choose another folder"
                )
            check_writable(out / CONFIG)
        except (OSError, ValueError) as err:
            error = str(err) if isinstance(err, ValueError) else f"cannot write to {out}: {err}"
    error = distributed.first_error(error, info)
    if error is not None:
        raise ValueError(error)
    if not resume:
        return None
    if not ckpt.exists():
        if info.is_main:
            warnings.warn(f"no checkpoint in {out} to resume from: starting afresh", stacklevel=3)
        return None
    return read_detector_payload(ckpt, map_location="cpu")
