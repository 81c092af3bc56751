"""The run folder of :func:`relnet_detector.train`: its files and the checks before training (the
training state a checkpoint carries is :mod:`relnet_detector.engine.checkpoint`'s).

::

    out_dir/config.toml       the configuration (save_config)
    out_dir/checkpoint.pt     the latest checkpoint (weights, config, category map, training state)
    out_dir/best.pt           the checkpoint of the epoch with the best val mAP, named in run.json
    out_dir/metrics.jsonl     the metrics log (:mod:`relnet_detector.engine.metrics_log`)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from relnet_core.files import check_writable, write_bytes, write_text

from ..config import DetectorConfig
from . import distributed
from .checkpoint import read_detector_payload
from .distributed import DistInfo

__all__ = [
    "BEST",
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "RUN_INFO",
    "keep_best",
    "prepare_run_folder",
    "write_run_info",
]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
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


def write_run_info(out: Path, run_info: Mapping[str, Any], *, keep_best: bool) -> Path:
    """Write ``run_info`` as ``run.json``; with ``keep_best`` (a resumed run) the ``"best"``
    entry already there stays."""
    info = dict(run_info)
    best = _read_run_info(out).get("best")
    if keep_best and best is not None:
        info["best"] = best
    return write_text(out / RUN_INFO, json.dumps(info, indent=2))


def _read_run_info(out: Path) -> dict[str, Any]:
    try:
        info = json.loads((out / RUN_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def keep_best(out: Path, history: Sequence[dict[str, Any]]) -> bool:
    """After an epoch's checkpoint: copy ``checkpoint.pt`` to ``best.pt`` (atomically) when the
    last epoch of ``history`` has the highest val ``mAP`` so far (the first of equals), and name
    it in ``run.json`` (``"best": {"checkpoint", "epoch", "mAP"}``); whether it did. Epochs
    without a val mAP (``val_images = 0``) keep nothing."""
    scored = [(e["mAP"], -k) for k, e in enumerate(history) if "mAP" in e]
    if not scored or "mAP" not in history[-1] or max(scored)[1] != -(len(history) - 1):
        return False
    write_bytes(out / BEST, (out / CHECKPOINT).read_bytes())
    info = _read_run_info(out)
    epoch = history[-1].get("epoch", len(history))
    info["best"] = {"checkpoint": BEST, "epoch": epoch, "mAP": history[-1]["mAP"]}
    write_text(out / RUN_INFO, json.dumps(info, indent=2))
    return True
