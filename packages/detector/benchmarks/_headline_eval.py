"""Evaluation of one trained arm for ``headline.py``: the network once per val image, every
remover on the same raw output, COCOeval per remover, cached as ``eval.json`` in the run folder.

- NMS and Soft-NMS are tuned on val (the grids below; the best by COCO mAP is reported, and the
  whole grid is kept in ``eval.json``): the baselines at their best setting.
- ``learned``: a relnet-dedup network trained with ``relnet_dedup.fit`` on the frozen detector's
  raw output over the TRAIN split (§4.3), the same small network as the preset's end-to-end one,
  with the head's appearance features (``learned``) and with boxes + scores only
  (``learned-boxes``).
- ``e2e``: the model's own end-to-end network (§4.4).

All removers start from the same raw detections (``s0 > 0.01``, the paper's threshold for the
learned remover, which also gives NMS a lower threshold than torchvision's 0.05) and keep at most
100 detections per image.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _headline_setup import log, read_json, run_dir, write_json

from relnet_dedup import DedupConfig, ImageDetections, fit, load_checkpoint
from relnet_detector import CocoFolder, RawDetections, load_detector, remove_duplicates
from relnet_detector.config import RemoverConfig
from relnet_detector.evaluate import coco_detections
from relnet_detector.metrics import coco_metrics as library_metrics
from relnet_detector.metrics import coco_stats, find_crowds

SCORE_THRESHOLD = 0.01
NMS_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SOFT_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
DEDUP_EPOCHS = 10


def evaluate_arm(
    arm: str,
    seed: int,
    data: Path,
    out: Path,
    *,
    smoke: bool = False,
    full_steps: int = 0,
    dedup_train_images: int = 0,
) -> dict:
    folder = run_dir(out, arm, seed)
    path = folder / "eval.json"
    steps = int(read_json(folder / "timing.json")["steps"])
    if path.is_file() and read_json(path).get("train_steps") == steps:
        log(f"{folder.name}: evaluated already at step {steps}, skipped")
        return read_json(path)
    start = time.perf_counter()
    loaded = load_detector(folder / "checkpoint.pt", map_location="cpu")
    model = loaded.model.eval()
    val = CocoFolder(data, "val")
    info = _val_info(data)
    log(f"{folder.name}: raw detections on val ({len(val)} images)")
    raw, ids, net_s = collect_raw(model, val)
    base = replace(loaded.config.model.remover, score_threshold=SCORE_THRESHOLD)
    result: dict[str, Any] = {
        "arm": arm,
        "seed": seed,
        "rows": {},
        "train_steps": steps,
        "full_steps": full_steps,
        "grid": {},
        "category_names": {str(k): v for k, v in info["names"].items()},
        "category_kinds": {str(k): v for k, v in info["kinds"].items()},
    }
    timing: dict[str, float] = {"val_network_s": net_s, "val_images": len(ids)}

    def run(name: str, remover: RemoverConfig, network: Any = None, full: bool = True) -> Any:
        t = time.perf_counter()
        with torch.no_grad():
            dets = [remove_duplicates(r, remover, network) for r in raw]
        timing[f"remove_{name}_s"] = time.perf_counter() - t
        return coco_metrics(dets, ids, val, info) if full else (dets, _grid_ap(dets, ids, val))

    for method, key, grid in (
        ("nms", "nms_threshold", NMS_GRID),
        ("soft-nms", "soft_nms_sigma", SOFT_GRID),
    ):
        scores, kept = {}, {}
        for value in grid:
            remover = replace(base, method=method, **{key: value})
            kept[value], scores[value] = run(f"{method}@{value}", remover, None, full=False)
            log(f"{folder.name}: {method} {key}={value}: mAP {100 * scores[value]:.2f}")
        best = max(grid, key=lambda v: scores[v])
        result["grid"][method] = {str(v): scores[v] for v in grid}
        row = coco_metrics(kept[best], ids, val, info)
        result["rows"][method] = {**row, "setting": {key: best}}
        del kept
    if arm == "e2e":
        model.set_remover(replace(base, method="e2e"))
        result["rows"]["e2e"] = run("e2e", model.remover, model.dedup_network)
    if arm == "rm":
        train_raw = None
        for name, appearance in (("learned", True), ("learned-boxes", False)):
            ckpt = folder / f"dedup-{name}-step{steps}.pt"
            done = folder / f"dedup-{name}-step{steps}.json"
            if not done.is_file():
                if train_raw is None:
                    train_raw = collect_train(model, data, base, timing, limit=dedup_train_images)
                train_dedup(train_raw, base, appearance, seed, ckpt, done, smoke=smoke)
            fit_info = read_json(done)
            timing[f"fit_{name}_s"] = fit_info["seconds"]
            network = load_checkpoint(ckpt).eval()
            remover = replace(base, method="learned", checkpoint=str(ckpt))
            row = run(name, remover, network)
            row["fit"] = fit_info
            result["rows"][name] = row
        del train_raw
    timing["eval_wall_s"] = time.perf_counter() - start
    result["timing"] = timing
    result["train"] = read_json(folder / "timing.json")
    result["history"] = _history(folder)
    write_json(path, result)
    summary = ", ".join(f"{k} {100 * v['AP']:.2f}" for k, v in result["rows"].items())
    log(f"{folder.name}: evaluated in {timing['eval_wall_s']:.0f} s: {summary}")
    return result


@torch.no_grad()
def collect_raw(
    model: torch.nn.Module, dataset: CocoFolder, batch: int = 8
) -> tuple[list[RawDetections], list[int], float]:
    """Raw detections of every image (``s0 > SCORE_THRESHOLD``), their image ids, seconds."""
    raws: list[RawDetections] = []
    ids: list[int] = []
    seconds = 0.0
    for first in range(0, len(dataset), batch):
        items = [dataset[i] for i in range(first, min(first + batch, len(dataset)))]
        items = [it for it in items if it is not None]
        t = time.perf_counter()
        out = model.raw_detections([img for img, _ in items], score_threshold=SCORE_THRESHOLD)
        seconds += time.perf_counter() - t
        raws.extend(out)
        ids.extend(int(tgt["image_id"]) for _, tgt in items)
    return raws, ids, seconds


def _top_per_class(raw: RawDetections, first_n: int) -> RawDetections:
    """At most ``first_n`` highest-scoring detections per class (what the remover sees)."""
    keep = []
    for label in raw.labels.unique():
        idx = (raw.labels == label).nonzero().flatten()
        order = raw.scores[idx].argsort(descending=True)[:first_n]
        keep.append(idx[order])
    if not keep:
        return raw
    return raw.select(torch.cat(keep))


@torch.no_grad()
def collect_train(
    model: torch.nn.Module,
    data: Path,
    remover: RemoverConfig,
    timing: dict[str, float],
    *,
    limit: int = 0,
) -> list[ImageDetections]:
    """The frozen detector's raw output on the TRAIN split (no augmentation), with ground truth
    and the head's features, cut to what the remover sees (``first_n`` per class)."""
    train = CocoFolder(data, "train")
    count = min(limit, len(train)) if limit else len(train)  # the first `count` images
    log(f"raw detections on train ({count} images) for the separately trained remover")
    start = time.perf_counter()
    images: list[ImageDetections] = []
    for first in range(0, count, 8):
        items = [train[i] for i in range(first, min(first + 8, count))]
        items = [it for it in items if it is not None]
        raws = model.raw_detections([img for img, _ in items], score_threshold=SCORE_THRESHOLD)
        for raw, (_, tgt) in zip(raws, items, strict=True):
            raw = _top_per_class(raw, remover.first_n)
            images.append(
                ImageDetections(
                    boxes=raw.boxes.float(),
                    scores=raw.scores.float(),
                    labels=raw.labels,
                    gt_boxes=torch.as_tensor(tgt["boxes"]).float().reshape(-1, 4),
                    gt_labels=tgt["labels"],
                    features=raw.features.float().clone(),
                    image_id=int(tgt["image_id"]),
                )
            )
    timing["train_raw_s"] = time.perf_counter() - start
    timing["train_raw_images"] = count
    log(f"raw detections on train: {time.perf_counter() - start:.0f} s")
    return images


def train_dedup(
    images: list[ImageDetections],
    remover: RemoverConfig,
    appearance: bool,
    seed: int,
    ckpt: Path,
    done: Path,
    *,
    smoke: bool,
) -> None:
    """``relnet_dedup.fit`` with the preset's end-to-end network (its size), resumable."""
    feat_dim = int(images[0].features.shape[1]) if images[0].features is not None else 1
    config: DedupConfig = replace(remover.dedup, feat_dim=feat_dim, use_appearance=appearance)
    data = images if appearance else [replace(im, features=None) for im in images]
    data = [im for im in data if im.boxes.shape[0] > 0 or im.gt_boxes.shape[0] > 0] or data
    start = time.perf_counter()
    result = fit(
        data,
        config,
        epochs=1 if smoke else DEDUP_EPOCHS,
        score_threshold=SCORE_THRESHOLD,
        first_n=remover.first_n,
        seed=seed,
        checkpoint=ckpt,
        resume=True,
        device="cpu",
        verbose=False,
    )
    seconds = time.perf_counter() - start
    history = [{"epoch": h.epoch, "loss": h.loss, "seconds": h.seconds} for h in result.history]
    write_json(done, {"seconds": seconds, "config": config.to_dict(), "history": history})
    log(f"dedup {ckpt.name}: {seconds:.0f} s, final loss {history[-1]['loss']:.4f}")


def _val_info(data: Path) -> dict[str, Any]:
    raw = json.loads((Path(data) / "annotations" / "instances_val.json").read_text())
    kinds = {c["id"]: c.get("relnet_kind", "plain") for c in raw["categories"]}
    names = {c["id"]: c["name"] for c in raw["categories"]}
    return {"kinds": kinds, "names": names}


def coco_metrics(
    dets: list[dict[str, torch.Tensor]],
    ids: list[int],
    dataset: CocoFolder,
    info: dict[str, Any],
) -> dict[str, Any]:
    """COCO's 12 stats, per-category AP, the context and plain classes' mean AP, and the crowd
    numbers (``relnet_detector.metrics``: crowd-scene AP, crowd-member recall at 0.5 / 0.75)."""
    if "crowds" not in info:
        info["crowds"] = find_crowds(dataset.coco, ids)
    records = _records(dets, ids, dataset)
    metrics = library_metrics(dataset.coco, records, ids, info["crowds"])
    per_cat = {str(k): v for k, v in metrics.per_category.items()}
    context = [per_cat[str(c)] for c, k in info["kinds"].items() if k == "context"]
    plain = [per_cat[str(c)] for c, k in info["kinds"].items() if k != "context"]
    return {
        **metrics.stats,
        **metrics.crowd,
        "per_category": per_cat,
        "context_AP": float(np.mean(context)) if context else float("nan"),
        "plain_AP": float(np.mean(plain)) if plain else float("nan"),
        "crowd_images": len(info["crowds"].images),
        "detections": len(records),
    }


def _grid_ap(dets: list[dict[str, torch.Tensor]], ids: list[int], dataset: CocoFolder) -> float:
    """COCO mAP alone (the grid search's criterion)."""
    return coco_stats(dataset.coco, _records(dets, ids, dataset), ids)["AP"]


def _records(
    dets: list[dict[str, torch.Tensor]], ids: list[int], dataset: CocoFolder
) -> list[dict[str, Any]]:
    to_category = dataset.categories.category_id
    return [
        r for det, i in zip(dets, ids, strict=True) for r in coco_detections(i, det, to_category)
    ]


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
