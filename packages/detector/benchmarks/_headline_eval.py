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
from _study_variants import HEADLINE, Variant, learned_remover
from remover_study import apply, collect, fit_variant, measure, study_info

from relnet_detector import CocoFolder, load_detector
from relnet_detector.config import RemoverConfig

SCORE_THRESHOLD = 0.01
NMS_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SOFT_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


class EvalContext:
    """What every remover row of one trained run needs, loaded once: the detector, its raw
    output on val (``remover_study``'s cache), the val set, its crowds and context classes, and
    the remover the rows start from (``s0 > SCORE_THRESHOLD``)."""

    def __init__(self, folder: Path, data: Path) -> None:
        self.folder, self.data = folder, Path(data)
        self.loaded = load_detector(folder / "checkpoint.pt", map_location="cpu")
        self.val = collect(folder, data, "val")
        self.dataset = CocoFolder(data, "val")
        self.info = study_info(self.data, self.dataset, self.val)
        self.base = replace(self.loaded.config.model.remover, score_threshold=SCORE_THRESHOLD)
        self._train: list[dict[str, Any]] | None = None

    def row(
        self, remover: RemoverConfig, network: Any = None, inputs: str = "head"
    ) -> dict[str, Any]:
        """One remover on the val raw output: its metrics and its time per image."""
        t = time.perf_counter()
        dets = apply(self.val, remover, network, inputs)
        seconds = time.perf_counter() - t
        measured = measure(dets, self.val, self.dataset, self.info, errors=False)
        return {**measured, "removal_ms": 1000 * seconds / len(self.val)}

    def tuned(
        self, method: str, grid: tuple[float, ...] = ()
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """NMS (``"nms"``) or Soft-NMS (``"soft-nms"``) at its best setting on val by mAP, with
        the setting, and the mAP of every setting of the grid (``grid``, default ``TUNED``'s)."""
        key, grid = TUNED[method][0], grid or TUNED[method][1]
        rows = {v: self.row(replace(self.base, method=method, **{key: v})) for v in grid}  # type: ignore[arg-type]
        best = max(grid, key=lambda v: rows[v]["AP"])
        log(f"{self.folder.name}: {method} best {key}={best}: mAP {100 * rows[best]['AP']:.2f}")
        return {**rows[best], "setting": {key: best}}, {str(v): rows[v]["AP"] for v in grid}

    def e2e(self) -> dict[str, Any]:
        """The model's own end-to-end network (§4.4)."""
        network = self.loaded.model.remover_network(self.base)  # type: ignore[operator]
        return self.row(self.base, network)

    def learned(self, variant: Variant, seed: int, *, smoke: bool = False) -> dict[str, Any]:
        """A relnet-dedup network of ``variant`` fitted on the frozen detector's raw output over
        the train split (cached in the run's ``study/``), evaluated on val."""
        if self._train is None:
            self._train = collect(self.folder, self.data, "train", limit=16 if smoke else 0)
        if smoke:
            variant = replace(variant, fit={**variant.fit, "epochs": 1})
        ckpt = fit_variant(self.folder, variant, self._train, seed)
        remover, network = learned_remover(self.base, variant, ckpt)
        measured = self.row(remover, network, variant.inputs)
        measured["fit"] = read_json(ckpt.with_suffix(".json"))
        return measured


TUNED = {"nms": ("nms_threshold", NMS_GRID), "soft-nms": ("soft_nms_sigma", SOFT_GRID)}


def eval_record(arm: str, seed: int, data: Path, steps: int, full_steps: int) -> dict[str, Any]:
    """The header of an ``eval.json``: the arm, the budget, the code version, the categories."""
    raw_val = json.loads((Path(data) / "annotations" / "instances_val.json").read_text())
    return {
        "arm": arm,
        "seed": seed,
        "rows": {},
        "train_steps": steps,
        "full_steps": full_steps,
        "code_version": code_version(),
        "grid": {},
        "category_names": {str(c["id"]): c["name"] for c in raw_val["categories"]},
        "category_kinds": {
            str(c["id"]): c.get("relnet_kind", "plain") for c in raw_val["categories"]
        },
    }


def finish_record(result: dict[str, Any], folder: Path, start: float) -> None:
    """Timing, training record and metrics history into ``result``, written as ``eval.json``."""
    before = result.get("timing", {}).get("eval_wall_s", 0.0)  # rows evaluated earlier
    result["timing"] = {"eval_wall_s": before + time.perf_counter() - start}
    result["train"] = read_json(folder / "timing.json")
    result["history"] = _history(folder)
    write_json(folder / "eval.json", result)
    summary = ", ".join(f"{k} {100 * v['AP']:.2f}" for k, v in result["rows"].items())
    log(f"{folder.name}: evaluated in {result['timing']['eval_wall_s']:.0f} s: {summary}")


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
            return cached  # type: ignore[no-any-return]
    start = time.perf_counter()
    ctx = EvalContext(folder, data)
    result = eval_record(arm, seed, data, steps, full_steps)
    for method in TUNED:
        result["rows"][method], result["grid"][method] = ctx.tuned(method)
    result["rows"]["oracle"] = ctx.row(replace(ctx.base, method="oracle"))
    if arm == "e2e":
        result["rows"]["e2e"] = ctx.e2e()
    if arm == "rm":
        for name, variant in HEADLINE.items():
            result["rows"][name] = ctx.learned(variant, seed, smoke=smoke)
    finish_record(result, folder, start)
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
