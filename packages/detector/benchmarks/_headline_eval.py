"""Evaluation of one trained arm for ``headline.py``: the network once per val image, every
remover on the same raw output (``remover_study``'s cache and measures), cached as
``eval.json`` in the run folder, keyed on the training step and the code version.

- NMS and Soft-NMS are tuned on val (the grids below; the best by COCO mAP is reported, and the
  whole grid is kept in ``eval.json``): the baselines at their best setting.
- ``oracle``: per ground truth the detection that matches it best (``relnet_dedup``'s oracle):
  the ceiling of a remover that keeps ``s0``.
- ``learned`` (arm ``rm``): a relnet-dedup network fitted with ``relnet_dedup.fit`` on the
  frozen detector's raw output over the TRAIN split (§4.3), the recipe of
  ``_study_variants.HEADLINE``: its boxes-only ablation, and the same recipe fitted for the
  detector's own 4 epochs (the end-to-end network's budget: the fair comparison).
- ``e2e`` (arm ``e2e``): the model's own end-to-end network (§4.4).

All removers start from the same raw detections (``s0 > 0.01``, the paper's threshold for the
learned remover, which also gives NMS a lower threshold than torchvision's 0.05) and keep at most
100 detections per image. ``removal_ms`` is the remover's time per val image, one image per
call, in this process.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _headline_setup import code_version, log, read_json, run_dir, write_json
from _study_variants import HEADLINE, learned_remover
from remover_study import apply, collect, fit_variant, measure, study_info

from relnet_detector import CocoFolder, load_detector
from relnet_detector.config import RemoverConfig

SCORE_THRESHOLD = 0.01
NMS_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SOFT_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def evaluate_arm(
    arm: str, seed: int, data: Path, out: Path, *, smoke: bool = False, full_steps: int = 0
) -> dict[str, Any]:
    folder = run_dir(out, arm, seed)
    path = folder / "eval.json"
    steps = int(read_json(folder / "timing.json")["steps"])
    version = code_version()
    if path.is_file():
        cached = read_json(path)
        if cached.get("train_steps") == steps and cached.get("code_version") == version:
            log(f"{folder.name}: evaluated already at step {steps}, skipped")
            return cached
    start = time.perf_counter()
    loaded = load_detector(folder / "checkpoint.pt", map_location="cpu")
    val = collect(folder, data, "val")
    dataset = CocoFolder(data, "val")
    info = study_info(data, dataset, val)
    base = replace(loaded.config.model.remover, score_threshold=SCORE_THRESHOLD)
    raw_val = json.loads((Path(data) / "annotations" / "instances_val.json").read_text())
    result: dict[str, Any] = {
        "arm": arm,
        "seed": seed,
        "rows": {},
        "train_steps": steps,
        "full_steps": full_steps,
        "code_version": version,
        "grid": {},
        "category_names": {str(c["id"]): c["name"] for c in raw_val["categories"]},
        "category_kinds": {
            str(c["id"]): c.get("relnet_kind", "plain") for c in raw_val["categories"]
        },
    }

    def row(remover: RemoverConfig, network: Any = None, inputs: str = "head") -> dict[str, Any]:
        t = time.perf_counter()
        dets = apply(val, remover, network, inputs)
        seconds = time.perf_counter() - t
        measured = measure(dets, val, dataset, info, errors=False)
        return {**measured, "removal_ms": 1000 * seconds / len(val)}

    for method, key, grid in (
        ("nms", "nms_threshold", NMS_GRID),
        ("soft-nms", "soft_nms_sigma", SOFT_GRID),
    ):
        rows = {value: row(replace(base, method=method, **{key: value})) for value in grid}
        best = max(grid, key=lambda v: rows[v]["AP"])
        result["grid"][method] = {str(v): rows[v]["AP"] for v in grid}
        result["rows"][method] = {**rows[best], "setting": {key: best}}
        log(f"{folder.name}: {method} best {key}={best}: mAP {100 * rows[best]['AP']:.2f}")
    result["rows"]["oracle"] = row(replace(base, method="oracle"))
    if arm == "e2e":
        result["rows"]["e2e"] = row(base, loaded.model.remover_network(base))
    if arm == "rm":
        train = collect(folder, data, "train", limit=16 if smoke else 0)
        for name, variant in HEADLINE.items():
            if smoke:
                variant = replace(variant, fit={**variant.fit, "epochs": 1})
            ckpt = fit_variant(folder, variant, train, seed)
            remover, network = learned_remover(base, variant, ckpt)
            measured = row(remover, network, variant.inputs)
            measured["fit"] = read_json(ckpt.with_suffix(".json"))
            result["rows"][name] = measured
    result["timing"] = {"eval_wall_s": time.perf_counter() - start}
    result["train"] = read_json(folder / "timing.json")
    result["history"] = _history(folder)
    write_json(path, result)
    summary = ", ".join(f"{k} {100 * v['AP']:.2f}" for k, v in result["rows"].items())
    log(f"{folder.name}: evaluated in {result['timing']['eval_wall_s']:.0f} s: {summary}")
    return result


def _history(folder: Path) -> list[dict[str, Any]]:
    """The metrics log, thinned to every epoch record and every 50th step record."""
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "epoch" or rec.get("step", 0) % 50 == 0:
            out.append(rec)
    return out
