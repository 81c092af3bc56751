"""COCO mAP of NMS, Soft-NMS and the learned duplicate remover (§5.2, Table 4), synthetic data.

The learned remover is trained on synthetic detector output (crowds of same-class objects,
clusters of noisy duplicates) and evaluated on held-out images with pycocotools' COCOeval, next to
NMS at several IoU thresholds Nt and Gaussian Soft-NMS at several sigma. Without ``--features``
the learned remover sees only what NMS sees (boxes and scores); with it, a second row also uses
noisy appearance features. eta is chosen at test time, from one trained network.

    python packages/dedup/benchmarks/bench_map.py [--features] [--epochs 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor

from relnet_dedup import (
    DedupConfig,
    ImageDetections,
    SyntheticConfig,
    batched_nms,
    batched_soft_nms,
    coco_ground_truth,
    coco_results,
    evaluate_coco,
    fit,
    learned_batched_nms,
    make_synthetic,
)

SCORE_THRESHOLD = 0.01  # every method sees the same detections: s0 > 0.01, as the paper's


def nms_remover(nt: float) -> Callable[[ImageDetections], tuple[Tensor, Tensor]]:
    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        cand = torch.nonzero(image.scores > SCORE_THRESHOLD).flatten()  # [C]
        keep = batched_nms(image.boxes[cand], image.scores[cand], image.labels[cand], nt)
        return cand[keep], image.scores[cand[keep]]

    return run


def soft_nms_remover(sigma: float) -> Callable[[ImageDetections], tuple[Tensor, Tensor]]:
    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        cand = torch.nonzero(image.scores > SCORE_THRESHOLD).flatten()  # [C]
        keep, scores = batched_soft_nms(
            image.boxes[cand],
            image.scores[cand],
            image.labels[cand],
            sigma=sigma,
            iou_threshold=0.3,
            score_threshold=0.001,
            method="gaussian",
        )
        return cand[keep], scores

    return run


def learned_remover(
    model: torch.nn.Module, eta: float | None, features: bool
) -> Callable[[ImageDetections], tuple[Tensor, Tensor]]:
    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        feats = image.features if features else None
        return learned_batched_nms(
            image.boxes,
            image.scores,
            image.labels,
            model,
            feats,
            eta=eta,  # type: ignore[arg-type]
            score_threshold=SCORE_THRESHOLD,
            first_n=100,
        )

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-images", type=int, default=300)
    parser.add_argument("--test-images", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--pos-weight", type=float, default=1.0)
    parser.add_argument("--logit-bias", type=float, default=-3.0)
    parser.add_argument(
        "--features", action="store_true", help="add a row with appearance features"
    )
    parser.add_argument("--feat-dim", type=int, default=16, help="synthetic feature size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # small matrices: one thread is robust on a busy machine
    console = Console()
    start = time.perf_counter()
    synth = SyntheticConfig(feat_dim=args.feat_dim if args.features else 0)
    train = make_synthetic(args.train_images, synth, seed=1000 + args.seed)
    test = make_synthetic(args.test_images, synth, seed=2000 + args.seed)
    gt = coco_ground_truth(test, synth.num_classes, synth.image_size)

    rows: list[tuple[str, str, list[float]]] = []
    for nt in (0.3, 0.4, 0.5, 0.6, 0.7):
        rows.append(("NMS", f"Nt={nt}", evaluate_coco(gt, coco_results(test, nms_remover(nt)))))
    for sigma in (0.2, 0.4, 0.6, 0.8, 1.0):
        stats = evaluate_coco(gt, coco_results(test, soft_nms_remover(sigma)))
        rows.append(("Soft-NMS (gaussian)", f"sigma={sigma}", stats))
    variants = [("learned (boxes + scores)", False)]
    if args.features:
        variants.append(("learned (+ appearance)", True))
    for name, use_features in variants:
        config = DedupConfig(
            feat_dim=synth.feat_dim if use_features else 1024,
            use_appearance=use_features,
            logit_bias=args.logit_bias,
        )
        result = fit(
            train,
            config,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=16,
            pos_weight=args.pos_weight,
            seed=args.seed,
            verbose=True,
        )
        for label, eta in (("eta=0.5", 0.5), ("eta=0.7", 0.7), ("mean eta 0.5:0.9", None)):
            remover = learned_remover(result.model, eta, use_features)
            rows.append((name, label, evaluate_coco(gt, coco_results(test, remover))))

    table = Table(
        title=f"Duplicate removal on {args.test_images} held-out synthetic images (COCOeval)"
    )
    for column in ("method", "parameter", "mAP", "mAP50", "mAP75"):
        table.add_column(column, justify="left" if column in ("method", "parameter") else "right")
    for method, param, stats in rows:
        table.add_row(method, param, *(f"{100 * s:.1f}" for s in stats[:3]))
    console.print(table)
    best = {m: max(s[0] for mm, _, s in rows if mm == m) for m in dict.fromkeys(r[0] for r in rows)}
    learned = best["learned (boxes + scores)"]
    baseline = max(best["NMS"], best["Soft-NMS (gaussian)"])
    verdict = "beats" if learned > baseline else "does NOT beat"
    console.print(
        f"learned (boxes + scores) best mAP {100 * learned:.1f} {verdict} the best NMS / Soft-NMS "
        f"{100 * baseline:.1f}  ({time.perf_counter() - start:.0f} s)"
    )
    return 0 if learned > baseline else 1


if __name__ == "__main__":
    sys.exit(main())
