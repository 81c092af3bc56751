"""Where the learned duplicate remover loses, measured on one frozen detector (issue 16).

For a trained run folder (a 2fc+RM detector of ``headline.py``), the network's raw output is
collected once over the val and train splits (``s0 > 0.001``, every class of every proposal, with
the head's features and the ground truth) and cached in ``RUN/study/``. Then, on that same raw
output, every remover of the study is evaluated with ``relnet_detector.evaluation.metrics``
(COCO mAP, the
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
from _study_variants import VARIANTS, Variant, learned_remover

from relnet_dedup import ImageDetections, fit
from relnet_detector import CocoFolder, RawDetections, load_detector, remove_duplicates
from relnet_detector.config import RemoverConfig
from relnet_detector.datasets.coco import train_transforms
from relnet_detector.evaluation import coco_detections, coco_metrics, find_crowds, run_cocoeval
from relnet_detector.modeling.removers import GroundTruth

NUM_CLASSES = 8  # the built-in benchmark's
RAW_THRESHOLD = 0.001  # the cache keeps every s0 above this; removers filter further
NMS_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SOFT_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def collect(
    run: Path, data: Path, split: str, limit: int = 0, flipped: bool = False, layers: bool = False
) -> list[dict[str, Any]]:
    """The raw output of ``run``'s detector on ``split`` (its images mirrored if ``flipped``)
    with ground truth, cached; with ``layers`` also each RoI's fc2 output before its relation
    module and ReLU (``fc7_pre``, relu'd)."""
    suffix = ("-flipped" if flipped else "") + ("-layers" if layers else "")
    path = run / "study" / f"raw-{split}{suffix}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)  # type: ignore[no-any-return]
    model = load_detector(run / "checkpoint.pt", map_location="cpu").model.eval()
    captured: list[torch.Tensor] = []
    if layers:
        fc7 = model.roi_heads.box_head.fc7
        fc7.register_forward_hook(lambda module, args, out: captured.append(out.relu()))
    transforms = train_transforms(hflip=1.0) if flipped else None
    dataset = CocoFolder(data, split, transforms=transforms)
    count = min(limit, len(dataset)) if limit else len(dataset)
    log(f"{run.name}: raw detections on {split} ({count} images)")
    start, items = time.perf_counter(), []
    with torch.no_grad():
        for first in range(0, count, 8):
            batch = [dataset[i] for i in range(first, min(first + 8, count))]
            batch = [b for b in batch if b is not None]
            captured.clear()
            raws = model.raw_detections([img for img, _ in batch], score_threshold=RAW_THRESHOLD)
            for b, (raw, (_, target)) in enumerate(zip(raws, batch, strict=True)):
                extra = {}
                if layers:  # [B, N, D] padded at the end of each image's rows
                    extra["fc7_pre"] = captured[-1][b, : raw.roi_features.shape[0]].half()
                items.append(
                    {
                        **extra,
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


def as_raw(item: dict[str, Any], inputs: str = "head", num_classes: int = 0) -> RawDetections:
    """One image's raw detections; ``inputs`` is what the learned remover's "appearance"
    feature holds: ``"head"`` the head's feature of the RoI (the paper's), ``"head+class"`` that
    and the RoI's class scores (``s0`` of every class, those under the cache's threshold 0) and
    the one-hot class of the detection, so that the class-agnostic network can rescore by class.
    """
    head = item["roi_features"].float()  # [R, D]
    if inputs in ("fc7-pre", "head+fc7-pre"):
        pre = item["fc7_pre"].float()
        head = pre if inputs == "fc7-pre" else torch.cat([head, pre], dim=1)
    raw = RawDetections(item["boxes"], item["scores"], item["labels"], item["roi_index"], head)
    if inputs in ("head", "fc7-pre", "head+fc7-pre"):
        return raw
    probs = head.new_zeros(head.shape[0], num_classes)  # [R, C]
    probs[raw.roi_index, raw.labels - 1] = raw.scores.float()
    onehot = torch.nn.functional.one_hot(raw.labels - 1, num_classes).float()  # [M, C]
    per_detection = torch.cat([head[raw.roi_index], probs[raw.roi_index], onehot], dim=1)
    m = len(raw)
    return RawDetections(raw.boxes, raw.scores, raw.labels, torch.arange(m), per_detection)


def training_images(items: list[dict[str, Any]], variant: Variant) -> list[ImageDetections]:
    """What ``fit`` trains on: per class the ``first_n`` highest ``s0 > score_threshold``."""
    images = []
    for item in items:
        raw = as_raw(item, variant.inputs, NUM_CLASSES)
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
    feat_dim = int(as_raw(train[0], variant.inputs, NUM_CLASSES).roi_features.shape[1])
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


def apply(
    items: list[dict[str, Any]], remover: RemoverConfig, network: Any = None, inputs: str = "head"
) -> list[dict]:
    out = []
    with torch.no_grad():
        for item in items:
            truth = GroundTruth(item["gt_boxes"], item["gt_labels"])
            raw = as_raw(item, inputs, NUM_CLASSES)
            out.append(remove_duplicates(raw, remover, network, truth))
    return out


def study_info(data: Path, dataset: CocoFolder, val: list[dict[str, Any]]) -> dict[str, Any]:
    """What :func:`measure` needs besides the detections: the crowds and the context classes."""
    raw = json.loads((data / "annotations" / "instances_val.json").read_text())
    return {
        "crowds": find_crowds(dataset.coco, [it["image_id"] for it in val]),
        "context": [c["id"] for c in raw["categories"] if c.get("relnet_kind") == "context"],
    }


def measure(
    dets: list[dict], items: list[dict], dataset: CocoFolder, info: dict, errors: bool = True
) -> dict:
    """COCO mAP, crowd numbers, context / plain AP and (``errors``) the false positives by
    kind of one output."""
    ids = [item["image_id"] for item in items]
    to_category = dataset.categories.category_id
    records = [
        r for d, i in zip(dets, ids, strict=True) for r in coco_detections(i, d, to_category)
    ]
    metrics = coco_metrics(dataset.coco, records, ids, info["crowds"])
    per_cat = metrics.per_category
    row: dict[str, Any] = {**metrics.stats, **metrics.crowd}
    row["per_category"] = {str(c): v for c, v in per_cat.items()}
    row["context_AP"] = float(np.mean([per_cat[c] for c in info["context"]]))
    row["plain_AP"] = float(
        np.mean([per_cat[c] for c, _ in per_cat.items() if c not in info["context"]])
    )
    if errors:
        row.update(_errors(dataset.coco, records, ids))
    return row


FP_KINDS = ("dup", "cls", "loc", "bkg")


def _errors(coco: Any, records: list[dict], ids: list[int]) -> dict[str, float]:
    """The false positives at IoU 0.5 by kind, the mAP50 once each kind is deleted, and the
    recall of all ground truths at 0.5 / 0.75.

    Kinds (TIDE's, Bolya et al. 2020): ``dup`` a same-class ground truth at IoU >= 0.5 (already
    matched: a kept duplicate), ``cls`` a ground truth of another class at >= 0.5 (a class
    confusion), ``loc`` a same-class ground truth at 0.1-0.5, ``bkg`` none of those.
    """
    evaluator = run_cocoeval(coco, records, ids)
    zeros = {f"{k}{s}": 0.0 for k in FP_KINDS for s in ("", "_AP50_without")}
    if evaluator is None:
        return {**zeros, "recall50": 0.0, "recall75": 0.0}
    kinds: dict[str, set[int]] = {k: set() for k in FP_KINDS}
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
            if not entry["dtIds"]:
                continue
            image_id, category = entry["image_id"], entry["category_id"]
            gts = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if not a["iscrowd"]]
            dets = evaluator.cocoDt.loadAnns(list(entry["dtIds"]))
            same = np.array([g["category_id"] == category for g in gts], dtype=bool)  # [G]
            iou = np.zeros((len(dets), len(gts)))
            if gts:
                iou = np.asarray(mask.iou([d["bbox"] for d in dets], [g["bbox"] for g in gts],
                                          [0] * len(gts)))  # fmt: skip
            for d, det in enumerate(dets):
                if entry["dtMatches"][t50, d] > 0 or entry["dtIgnore"][t50, d]:
                    continue
                own = iou[d, same].max(initial=0.0)
                other = iou[d, ~same].max(initial=0.0)
                kind = (
                    "dup"
                    if own >= 0.5
                    else "cls"
                    if other >= 0.5
                    else "loc"
                    if own >= 0.1
                    else "bkg"
                )
                kinds[kind].add(int(det["id"]))
    out = {"recall50": float(found[0] / max(total, 1)), "recall75": float(found[1] / max(total, 1))}
    for kind, dropped in kinds.items():
        kept = [r for j, r in enumerate(records, start=1) if j not in dropped]  # loadRes: 1 .. N
        without = run_cocoeval(coco, kept, ids)
        out[kind] = float(len(dropped))
        out[f"{kind}_AP50_without"] = float(without.stats[1]) if without is not None else 0.0
    return out


def evaluate_run(run: Path, data: Path, variants: list[str], seeds: list[int], limit: int) -> None:
    val = collect(run, data, "val")
    dataset = CocoFolder(data, "val")
    info = study_info(data, dataset, val)
    loaded = load_detector(run / "checkpoint.pt", map_location="cpu")
    base = replace(loaded.config.model.remover, score_threshold=0.01)
    results_path = run / "study" / "results.json"
    results = read_json(results_path) if results_path.is_file() else {}
    results = {k: v for k, v in results.items() if "bkg" in v}  # older rows: measured again

    def record(name: str, dets: list[dict], extra: dict | None = None) -> None:
        row = measure(dets, val, dataset, info)
        row.update(extra or {})
        results[name] = row
        if results_path.is_file():  # another study process may have added rows meanwhile
            results.update({k: v for k, v in read_json(results_path).items() if k not in results})
        write_json(results_path, results)
        log(f"{name}: mAP {100 * row['AP']:.2f} crowd AP {100 * row['crowd_AP']:.2f} "
            f"crowd R50 {100 * row['crowd_recall50']:.1f} FP dup/cls/loc/bkg "
            + "/".join(f"{row[k]:.0f}" for k in FP_KINDS))  # fmt: skip

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
    for name in variants:
        variant = VARIANTS[name]
        for seed in seeds:
            key = f"{name}-s{seed}"
            if key in results:
                continue
            val = collect(run, data, "val", layers=variant.layers)
            train = collect(run, data, "train", limit, layers=variant.layers)
            if variant.flipped:
                train = train + collect(run, data, "train", limit, flipped=True)
            ckpt = fit_variant(run, variant, train, seed)
            remover, network = learned_remover(base, variant, ckpt)
            start = time.perf_counter()
            dets = apply(val, remover, network, variant.inputs)
            fit_info = read_json(ckpt.with_suffix(".json"))
            record(
                key, dets, {"seconds": time.perf_counter() - start, "fit_s": fit_info["seconds"]}
            )


COLUMNS = (
    ("AP", "mAP"), ("AP50", "mAP50"), ("AP75", "mAP75"), ("context_AP", "context"),
    ("plain_AP", "plain"), ("crowd_AP", "crowd AP"), ("crowd_recall50", "crowd R50"),
    ("crowd_recall75", "crowd R75"), ("recall50", "R50"), ("recall75", "R75"),
    *((f"{k}_AP50_without", f"mAP50 w/o {k}") for k in FP_KINDS),
)  # fmt: skip


def table(run: Path) -> str:
    """Every measured remover of ``run``: the baselines in grid order, then the learned
    variants in the order of ``VARIANTS`` (with what each changes)."""
    results = read_json(run / "study" / "results.json")
    lines = [
        "| remover | change | " + " | ".join(label for _, label in COLUMNS)
        + " | FP@.5 dup/cls/loc/bkg | removal ms/img |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 2),
    ]  # fmt: skip
    order = {name: i for i, name in enumerate(VARIANTS)}

    def key(name: str) -> tuple[int, int, str]:
        variant = name.rsplit("-s", 1)[0]
        return (1, order[variant], name) if variant in order else (0, 0, name)

    for name in sorted(results, key=key):
        row = results[name]
        variant = VARIANTS.get(name.rsplit("-s", 1)[0])
        note = variant.note if variant is not None else ""
        cells = [f"{100 * row[k]:.1f}" if k in row else "-" for k, _ in COLUMNS]
        fps = "/".join(f"{row[k]:.0f}" if k in row else "-" for k in FP_KINDS)
        ms = f"{1000 * row['seconds'] / 500:.1f}" if "seconds" in row else "-"
        lines.append(f"| {name} | {note} | " + " | ".join(cells) + f" | {fps} | {ms} |")
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
    parser.add_argument("--doc", type=Path, default=None, help="with --table: also write it here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.table:
        text = table(args.run)
        print(text)
        if args.doc is not None:
            args.doc.write_text(
                f"<!-- written by packages/detector/benchmarks/remover_study.py {args.run} "
                "--table; do not edit by hand -->\n\n" + text + "\n",
                encoding="utf-8",
            )
        return 0
    if args.data is None:
        from relnet_detector.datasets.synthetic import ensure_synthetic

        args.data = ensure_synthetic()
    evaluate_run(args.run, Path(args.data), args.variants, args.seeds, args.train_images)
    print(table(args.run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
