"""Where the learned duplicate remover loses, measured on one frozen detector (issue 16).

For a trained run folder (a 2fc+RM detector of ``headline.py``), the network's raw output is
collected once over the val and train splits (``s0 > 0.001``, every class of every proposal, with
the head's features and the ground truth) and cached in ``RUN/study/``. Then, on that same raw
output, every remover of the study is evaluated with ``relnet_detector.metrics`` (COCO mAP, the
crowd numbers) plus context / plain AP and an error split at IoU 0.5:

- ``dup``: false positives of a class whose ground truth is already found (a kept duplicate);
- ``mAP50 no-dup``: mAP50 once those duplicates are deleted (what keeping them costs; at the
  higher IoU thresholds such a "duplicate" can be the better-localised true positive);
- recall of every ground truth and of the crowd members at IoU 0.5 and 0.75.

Removers: NMS and Soft-NMS over their grids (the best by val mAP), the oracle, and the learned
variants of ``VARIANTS``, each fitted on the train split's raw output with ``relnet_dedup.fit``
(cached as ``RUN/study/<variant>.pt``)::

    python packages/detector/benchmarks/remover_study.py runs/headline/rm-s0 --variants base
    python packages/detector/benchmarks/remover_study.py runs/headline/rm-s0 --table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _headline_setup import log, read_json, write_json
from _study_variants import VARIANTS, Variant

from relnet_dedup import ImageDetections, fit, load_checkpoint
from relnet_detector import CocoFolder, RawDetections, load_detector, remove_duplicates
from relnet_detector.config import RemoverConfig
from relnet_detector.evaluate import coco_detections
from relnet_detector.metrics import coco_metrics, find_crowds, run_cocoeval
from relnet_detector.removers import GroundTruth

RAW_THRESHOLD = 0.001  # the cache keeps every s0 above this; removers filter further
NMS_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SOFT_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def collect(run: Path, data: Path, split: str, limit: int = 0) -> list[dict[str, Any]]:
    """The raw output of ``run``'s detector on ``split`` with ground truth, cached."""
    path = run / "study" / f"raw-{split}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)  # type: ignore[no-any-return]
    model = load_detector(run / "checkpoint.pt", map_location="cpu").model.eval()
    dataset = CocoFolder(data, split)
    count = min(limit, len(dataset)) if limit else len(dataset)
    log(f"{run.name}: raw detections on {split} ({count} images)")
    start, items = time.perf_counter(), []
    with torch.no_grad():
        for first in range(0, count, 8):
            batch = [dataset[i] for i in range(first, min(first + 8, count))]
            batch = [b for b in batch if b is not None]
            raws = model.raw_detections([img for img, _ in batch], score_threshold=RAW_THRESHOLD)
            for raw, (_, target) in zip(raws, batch, strict=True):
                items.append(
                    {
                        "image_id": int(target["image_id"]),
                        "boxes": raw.boxes,
                        "scores": raw.scores,
                        "labels": raw.labels,
                        "roi_index": raw.roi_index,
                        "roi_features": raw.roi_features.half(),
                        "gt_boxes": target["boxes"].as_subclass(torch.Tensor).reshape(-1, 4),
                        "gt_labels": target["labels"],
                    }
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(items, path)
    log(f"{run.name}: {split} raw output in {time.perf_counter() - start:.0f} s")
    return items


def as_raw(item: dict[str, Any]) -> RawDetections:
    return RawDetections(
        item["boxes"], item["scores"], item["labels"], item["roi_index"],
        item["roi_features"].float(),
    )  # fmt: skip


def training_images(items: list[dict[str, Any]], variant: Variant) -> list[ImageDetections]:
    """What ``fit`` trains on: per class the ``first_n`` highest ``s0 > score_threshold``."""
    images = []
    for item in items:
        raw = as_raw(item)
        keep = raw.scores > variant.train_score_threshold
        raw = raw.select(keep)
        images.append(
            ImageDetections(
                boxes=raw.boxes.float(),
                scores=raw.scores.float(),
                labels=raw.labels,
                gt_boxes=item["gt_boxes"].float(),
                gt_labels=item["gt_labels"],
                features=raw.features.float()
                if variant.dedup.get("use_appearance", True)
                else None,
                image_id=item["image_id"],
            )
        )
    return images


def fit_variant(run: Path, variant: Variant, train: list[dict[str, Any]], seed: int) -> Path:
    ckpt = run / "study" / f"{variant.name}-s{seed}.pt"
    done = ckpt.with_suffix(".json")
    if done.is_file():
        return ckpt
    config = load_detector(run / "checkpoint.pt", map_location="cpu").config.model.remover.dedup
    feat_dim = int(train[0]["roi_features"].shape[1])
    config = replace(config, feat_dim=feat_dim, **variant.dedup)
    images = training_images(train[: variant.train_images or None], variant)
    log(f"{variant.name}: fit on {len(images)} images ({config})")
    start = time.perf_counter()
    result = fit(
        images,
        config,
        score_threshold=variant.train_score_threshold,
        first_n=variant.train_first_n,
        seed=seed,
        checkpoint=ckpt,
        resume=True,
        device="cpu",
        verbose=False,
        **variant.fit,
    )
    seconds = time.perf_counter() - start
    history = [{"epoch": h.epoch, "loss": h.loss} for h in result.history]
    write_json(done, {"seconds": seconds, "config": config.to_dict(), "history": history})
    log(f"{variant.name}: fitted in {seconds:.0f} s, loss {history[-1]['loss']:.4f}")
    return ckpt


def apply(items: list[dict[str, Any]], remover: RemoverConfig, network: Any = None) -> list[dict]:
    out = []
    with torch.no_grad():
        for item in items:
            truth = GroundTruth(item["gt_boxes"], item["gt_labels"])
            out.append(remove_duplicates(as_raw(item), remover, network, truth))
    return out


def measure(dets: list[dict], items: list[dict], dataset: CocoFolder, info: dict) -> dict:
    """COCO mAP, crowd numbers, context / plain AP and the duplicate split of one output."""
    ids = [item["image_id"] for item in items]
    to_category = dataset.categories.category_id
    records = [
        r for d, i in zip(dets, ids, strict=True) for r in coco_detections(i, d, to_category)
    ]
    metrics = coco_metrics(dataset.coco, records, ids, info["crowds"])
    per_cat = metrics.per_category
    row: dict[str, Any] = {**metrics.stats, **metrics.crowd}
    row["context_AP"] = float(np.mean([per_cat[c] for c in info["context"]]))
    row["plain_AP"] = float(
        np.mean([per_cat[c] for c, _ in per_cat.items() if c not in info["context"]])
    )
    row.update(_errors(dataset.coco, records, ids))
    return row


def _errors(coco: Any, records: list[dict], ids: list[int]) -> dict[str, float]:
    """Duplicates kept at IoU 0.5 (false positives whose best same-class ground truth is already
    matched at >= 0.5), the mAP without them, and the recall of all ground truths."""
    evaluator = run_cocoeval(coco, records, ids)
    if evaluator is None:
        return {"dup": 0.0, "AP50_no_dup": 0.0, "recall50": 0.0, "recall75": 0.0}
    dups: set[int] = set()
    found, total = np.zeros(2), 0
    t50, t75 = 0, 5
    num_images, num_areas = len(evaluator.params.imgIds), len(evaluator.params.areaRng)
    for k in range(len(evaluator.params.catIds)):
        for i in range(num_images):
            entry = evaluator.evalImgs[k * num_areas * num_images + i]
            if entry is None:
                continue
            total += len(entry["gtIds"])
            found += [(entry["gtMatches"][t] > 0).sum() for t in (t50, t75)]
            image_id, category = entry["image_id"], entry["category_id"]
            gts = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[category]))
            if not gts or not entry["dtIds"]:
                continue
            det_ids = list(entry["dtIds"])
            dets = evaluator.cocoDt.loadAnns(det_ids)
            iou = np.asarray(mask.iou([d["bbox"] for d in dets], [g["bbox"] for g in gts],
                                      [0] * len(gts)))  # fmt: skip
            for d, det in enumerate(dets):
                if entry["dtMatches"][t50, d] == 0 and iou[d].max() >= 0.5:
                    dups.add(int(det["id"]))
    kept = [r for j, r in enumerate(records, start=1) if j not in dups]  # loadRes: ids 1 .. N
    no_dup = run_cocoeval(coco, kept, ids)
    return {
        "dup": float(len(dups)),
        "AP50_no_dup": float(no_dup.stats[1]) if no_dup is not None else 0.0,
        "recall50": float(found[0] / max(total, 1)),
        "recall75": float(found[1] / max(total, 1)),
    }


def evaluate_run(run: Path, data: Path, variants: list[str], seeds: list[int], limit: int) -> None:
    val = collect(run, data, "val")
    dataset = CocoFolder(data, "val")
    raw_val = json.loads((data / "annotations" / "instances_val.json").read_text())
    info = {
        "crowds": find_crowds(dataset.coco, [it["image_id"] for it in val]),
        "context": [c["id"] for c in raw_val["categories"] if c.get("relnet_kind") == "context"],
    }
    loaded = load_detector(run / "checkpoint.pt", map_location="cpu")
    base = replace(loaded.config.model.remover, score_threshold=0.01)
    results_path = run / "study" / "results.json"
    results = read_json(results_path) if results_path.is_file() else {}

    def record(name: str, dets: list[dict], extra: dict | None = None) -> None:
        row = measure(dets, val, dataset, info)
        row.update(extra or {})
        results[name] = row
        write_json(results_path, results)
        log(f"{name}: mAP {100 * row['AP']:.2f} crowd AP {100 * row['crowd_AP']:.2f} "
            f"crowd R50 {100 * row['crowd_recall50']:.1f} dup {row['dup']:.0f} "
            f"no-dup mAP50 {100 * row['AP50_no_dup']:.2f}")  # fmt: skip

    for method, key, grid in (("nms", "nms_threshold", NMS_GRID),
                              ("soft-nms", "soft_nms_sigma", SOFT_GRID)):  # fmt: skip
        for value in grid:
            name = f"{method}-{value:g}"
            if name not in results:
                start = time.perf_counter()
                dets = apply(val, replace(base, method=method, **{key: value}))
                record(name, dets, {"seconds": time.perf_counter() - start})
    if "oracle" not in results:
        record("oracle", apply(val, replace(base, method="oracle")))
    if base.method == "e2e" and "e2e" not in results:  # the model's own end-to-end network
        start = time.perf_counter()
        dets = apply(val, base, loaded.model.remover_network(base))
        record("e2e", dets, {"seconds": time.perf_counter() - start})
    train: list[dict[str, Any]] | None = None
    for name in variants:
        variant = VARIANTS[name]
        for seed in seeds:
            key = f"{name}-s{seed}"
            if key in results:
                continue
            if train is None:
                train = collect(run, data, "train", limit)
            ckpt = fit_variant(run, variant, train, seed)
            network = load_checkpoint(ckpt).eval()
            remover = replace(
                base,
                method="learned",
                checkpoint=str(ckpt),
                first_n=variant.first_n,
                score_threshold=variant.score_threshold,
            )
            start = time.perf_counter()
            dets = apply(val, remover, network)
            fit_info = read_json(ckpt.with_suffix(".json"))
            record(
                key, dets, {"seconds": time.perf_counter() - start, "fit_s": fit_info["seconds"]}
            )


COLUMNS = (
    ("AP", "mAP"), ("AP50", "mAP50"), ("AP75", "mAP75"), ("context_AP", "context"),
    ("plain_AP", "plain"), ("crowd_AP", "crowd AP"), ("crowd_recall50", "crowd R50"),
    ("crowd_recall75", "crowd R75"), ("recall50", "R50"), ("recall75", "R75"),
    ("AP50_no_dup", "mAP50 no-dup"),
)  # fmt: skip


def table(run: Path) -> str:
    results = read_json(run / "study" / "results.json")
    lines = [
        "| remover | " + " | ".join(label for _, label in COLUMNS) + " | dup@.5 |",
        "|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for name, row in results.items():
        cells = [f"{100 * row[k]:.1f}" for k, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['dup']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=0, help="cap (0: all)")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.table:
        print(table(args.run))
        return 0
    if args.data is None:
        from relnet_detector.datasets.synthetic import ensure_synthetic

        args.data = ensure_synthetic()
    evaluate_run(args.run, Path(args.data), args.variants, args.seeds, args.train_images)
    print(table(args.run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
