"""Evaluation of one arm for ``paper.py``, on ``_headline_eval``'s primitives, cached per row.

A run folder's ``eval.json`` has ``headline.py``'s format (so a copied headline run's
evaluation is reused as it is); ``paper.py`` adds the rows an arm lacks, the code version of
every row it adds (``row_versions``) and, for the plots, each wanted row's AP at every IoU
threshold of COCO (``curves``). An evaluation made at another training step is made again; one
made by another code version is kept unless ``restale`` (``--retrain-stale``).

The Table 3 ablations of the learned remover are fitted on arm ``rm``'s frozen detector and kept
in its folder as ``ablations.json`` (another file, so that two processes can share the arm).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _headline_eval import TUNED, EvalContext, eval_record, finish_record
from _headline_setup import code_version, log, read_json, run_dir, write_json
from _paper_arms import ABLATIONS, ARMS
from _study_variants import HEADLINE
from remover_study import apply

from relnet_detector.evaluation import coco_detections, run_cocoeval

IOUS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))  # COCO's thresholds


def wanted_rows(name: str) -> list[str]:
    """The remover rows the tables need of arm ``name``."""
    rows = [*TUNED, "oracle"]
    if ARMS[name].base == "e2e":
        rows.append("e2e")
    if name == "rm":
        rows.extend(HEADLINE)
    return rows


# the rows whose AP at each IoU threshold the plot draws
CURVES = {"2fc": ("nms", "soft-nms"), "rm": ("nms", "soft-nms"), "e2e": ("e2e",)}


def _curve(ctx: EvalContext, name: str, row: dict[str, Any]) -> list[float]:
    """AP (all classes, all areas, 100 detections) at each of COCO's 10 IoU thresholds."""
    if name == "e2e":
        remover, network = ctx.base, ctx.loaded.model.remover_network(ctx.base)  # type: ignore[operator]
    else:
        remover = replace(ctx.base, method=name, **row.get("setting", {}))  # type: ignore[arg-type]
        network = None
    dets = apply(ctx.val, remover, network)
    ids = [item["image_id"] for item in ctx.val]
    to_category = ctx.dataset.categories.category_id
    records = [
        r for d, i in zip(dets, ids, strict=True) for r in coco_detections(i, d, to_category)
    ]
    evaluator = run_cocoeval(ctx.dataset.coco, records, ids)
    if evaluator is None:
        return [0.0] * len(IOUS)
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # [T, R, K]
    out = []
    for t in range(precision.shape[0]):
        p = precision[t]
        out.append(float(np.mean(p[p > -1])) if (p > -1).any() else 0.0)
    return out


def evaluate(
    name: str,
    seed: int,
    data: Path,
    out: Path,
    *,
    smoke: bool = False,
    full_steps: int = 0,
    restale: bool = False,
) -> dict[str, Any]:
    """Arm ``name``'s ``eval.json``, its missing rows and curves added (nothing is recomputed
    when all are there)."""
    folder = run_dir(out, name, seed)
    steps = int(read_json(folder / "timing.json")["steps"])
    version = code_version()
    path = folder / "eval.json"
    result = read_json(path) if path.is_file() else None
    if result is not None and (
        result.get("train_steps") != steps or (restale and result.get("code_version") != version)
    ):
        log(f"{folder.name}: evaluation of step {result.get('train_steps')} made again")
        result = None
    if result is None:
        result = eval_record(name, seed, data, steps, full_steps)
    rows = [r for r in wanted_rows(name) if r not in result["rows"]]
    curves = [r for r in CURVES.get(name, ()) if r not in result.get("curves", {})]
    if not rows and not curves:
        log(f"{folder.name}: evaluated already at step {steps}, skipped")
        return result
    start = time.perf_counter()
    ctx = EvalContext(folder, data)
    versions = result.setdefault("row_versions", {})
    for row in rows:
        if row in TUNED:  # --smoke: two settings of each grid
            grid = TUNED[row][1][2::3] if smoke else ()
            result["rows"][row], result["grid"][row] = ctx.tuned(row, grid)
        elif row == "oracle":
            result["rows"][row] = ctx.row(replace(ctx.base, method="oracle"))
        elif row == "e2e":
            result["rows"][row] = ctx.e2e()
        else:
            result["rows"][row] = ctx.learned(HEADLINE[row], seed, smoke=smoke)
        versions[row] = version
    for row in curves:
        result.setdefault("curves", {})[row] = _curve(ctx, row, result["rows"][row])
    finish_record(result, folder, start)
    return result


def evaluate_ablations(
    seed: int, data: Path, out: Path, *, smoke: bool = False, restale: bool = False
) -> dict[str, Any] | None:
    """Table 3's learned-remover ablations on arm ``rm``'s finished run (None if not there)."""
    folder = run_dir(out, "rm", seed)
    timing_path = folder / "timing.json"
    if not timing_path.is_file() or not read_json(timing_path).get("finished"):
        log(f"{folder.name}: not trained yet; the remover ablations wait")
        return None
    steps = int(read_json(timing_path)["steps"])
    path = folder / "ablations.json"
    version = code_version()
    result = read_json(path) if path.is_file() else None
    if result is not None and (
        result.get("train_steps") != steps or (restale and result.get("code_version") != version)
    ):
        result = None
    if result is None:
        result = {"train_steps": steps, "code_version": version, "rows": {}, "row_versions": {}}
    missing = [a for a in ABLATIONS if a not in result["rows"]]
    if not missing:
        log(f"{folder.name}: remover ablations evaluated already, skipped")
        return result
    ctx = EvalContext(folder, data)
    for name in missing:
        start = time.perf_counter()
        result["rows"][name] = ctx.learned(ABLATIONS[name], seed, smoke=smoke)
        result["row_versions"][name] = version
        write_json(path, result)  # after every fit: an interrupted process loses one at most
        log(
            f"{folder.name}: ablation {name}: mAP {100 * result['rows'][name]['AP']:.2f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
    return result
