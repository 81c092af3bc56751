"""Arms, their configurations and resumable training for ``headline.py``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from relnet_detector import train
from relnet_detector.config import DetectorConfig, load_config

# arm -> (head kind, remover the detector is trained with)
ARMS: dict[str, tuple[str, str]] = {
    "2fc": ("2fc", "nms"),
    "rm": ("2fc+rm", "nms"),
    "e2e": ("2fc+rm", "e2e"),
}


ROOT = Path(__file__).resolve().parents[3]  # the repository


def code_version() -> str:
    """sha256 (12 hex digits) of every package's sources and of these benchmark scripts: what a
    training run and an evaluation are keyed on, so a table never mixes two versions of the
    code (a change of a README or a test keeps it)."""
    digest = hashlib.sha256()
    files = [*ROOT.glob("packages/*/src/**/*.py"), *Path(__file__).parent.glob("*.py")]
    for path in sorted(files):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def run_dir(out: Path, arm: str, seed: int) -> Path:
    return out / f"{arm}-s{seed}"


def arm_config(arm: str, seed: int, *, smoke: bool = False) -> DetectorConfig:
    """The ``tiny`` preset with the arm's head and training remover; everything else shared."""
    kind, remover = ARMS[arm]
    base = load_config("tiny")
    model = replace(
        base.model,
        head=replace(base.model.head, kind=kind),  # same hidden_dim for 2fc
        remover=replace(base.model.remover, method=remover),
    )
    tc = replace(base.train, seed=seed, val_images=0)  # evaluated afterwards, on all of val
    if smoke:
        tc = replace(tc, epochs=1, batch_size=4, workers=0, warmup_iters=2, lr_steps=())
    return replace(base, model=model, train=tc)


def benchmark_data(out: Path, *, smoke: bool, data: Path | None) -> Path:
    """The data of a benchmark run: the smoke set under ``out``, the user's ``data``, or the
    built-in benchmark (generated into the cache on first use)."""
    if smoke:
        return smoke_data(out)
    if data is not None:
        return data
    from relnet_detector.datasets.synthetic import ensure_synthetic

    return Path(ensure_synthetic())


def smoke_data(out: Path) -> Path:
    """A tiny synthetic set (16 train / 8 val images) for ``--smoke``."""
    from relnet_detector.datasets.synthetic import SyntheticConfig, generate_synthetic

    root = out / "smoke-data"
    if (root / "synthetic.json").is_file():
        return root
    return Path(generate_synthetic(root, SyntheticConfig(seed=0, train=16, val=8), workers=1))


def train_arm(
    arm: str,
    seed: int,
    config: DetectorConfig,
    data: Path,
    out: Path,
    max_steps: int | None = None,
    *,
    stale: str = "move",
) -> dict[str, Any]:
    """Train one arm into its run folder up to ``max_steps`` (None: the whole budget): skipped
    when already there, resumed (exactly) from its checkpoint otherwise.

    ``timing.json`` records the wall-clock seconds of training summed over the resumed pieces
    (each with the code version that trained it), the steps done, whether the whole budget is
    done and the code version that started the run. A run of another code version is moved
    aside (``NAME.stale-VERSION``) and trained again with ``stale="move"`` (``headline.py``);
    with ``stale="keep"`` (``paper.py``) it is kept: skipped if finished, resumed otherwise."""
    folder = run_dir(out, arm, seed)
    timing_path = folder / "timing.json"
    version = code_version()
    if (
        stale == "move"
        and timing_path.is_file()
        and read_json(timing_path).get("code_version") != version
    ):
        stale = folder.with_name(
            f"{folder.name}.stale-{read_json(timing_path).get('code_version')}"
        )
        log(f"{folder.name}: trained by other code; moved to {stale.name}, training again")
        shutil.move(folder, stale)
    folder.mkdir(parents=True, exist_ok=True)
    timing = (
        read_json(timing_path)
        if timing_path.is_file()
        else {"train_wall_s": 0.0, "steps": 0, "code_version": version}
    )
    if timing.get("finished") or (max_steps is not None and timing["steps"] >= max_steps):
        return timing
    resumed = (folder / "checkpoint.pt").is_file()
    log(
        f"{folder.name}: {'resuming at step ' + str(timing['steps']) if resumed else 'training'}"
        f" to {max_steps or 'the end'} ({config.model.head.kind}, trained with remover "
        f"{config.model.remover.method})"
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="no checkpoint in")
        result = train(
            config, data, folder, resume=True, device="cpu", progress=False, max_steps=max_steps
        )
    piece = time.perf_counter() - start
    timing["train_wall_s"] += piece
    timing.setdefault("pieces", []).append(
        {"to_step": result.step, "wall_s": piece, "code_version": version}
    )
    timing.update(
        finished=bool(result.finished),
        steps=result.step,
        epochs=result.epoch,
        resumed=resumed or timing.get("resumed", False),
    )
    write_json(timing_path, timing)
    log(f"{folder.name}: at step {result.step}, {timing['train_wall_s']:.0f} s wall in all")
    return timing
