"""Speed of the duplicate removers on raw detections (paper §4.3, 'Inference'; Table 4).

Per image: 1000 raw detections over 80 classes, most with tiny scores and a handful of classes
present, each with clusters of duplicates around its objects. Measured side by side in one run:
our batched Soft-NMS, ensemble-boxes' Soft-NMS (same sigma and threshold, Gaussian; the kept sets
are compared), torchvision's batched NMS and the learned remover (an untrained network: only its
speed matters here). Per-image times are medians over repeats; images/second is for one batch of 8
images (one call with ``idxs = image * 80 + label`` where the method can batch images).

    python packages/dedup/benchmarks/bench_speed.py [--images 8] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import relnet_dedup
from relnet_dedup import batched_soft_nms

NUM_CLASSES, PER_IMAGE, WIDTH, HEIGHT = 80, 1000, 640.0, 480.0
SIGMA, SCORE_THRESHOLD, NMS_IOU = 0.5, 0.001, 0.5


Image = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # boxes [N, 4], scores [N], labels [N]


def synthetic_image(gen: torch.Generator) -> Image:
    """Boxes [1000, 4] in pixels, scores [1000], labels [1000] of one image's raw detections."""
    boxes, scores, labels = [], [], []
    present = torch.randperm(NUM_CLASSES, generator=gen)[
        : int(torch.randint(3, 7, (1,), generator=gen))
    ]
    for label in present.tolist():
        for _ in range(int(torch.randint(1, 5, (1,), generator=gen))):
            wh = torch.rand(2, generator=gen) * torch.tensor([200.0, 160.0]) + 20  # [2]
            xy = torch.rand(2, generator=gen) * (torch.tensor([WIDTH, HEIGHT]) - wh)  # [2]
            n = int(torch.randint(15, 41, (1,), generator=gen))
            jitter = torch.randn(n, 4, generator=gen) * wh.repeat(2) * 0.08  # [n, 4]
            boxes.append(torch.cat([xy, xy + wh]) + jitter)  # [n, 4]: duplicates of one object
            peak = 0.3 + 0.65 * float(torch.rand(1, generator=gen))
            scores.append(peak * torch.rand(n, generator=gen).pow(2))  # [n]: one strong, many weak
            labels.append(torch.full((n,), label))
    rest = PER_IMAGE - sum(len(b) for b in boxes)
    xy = torch.rand(rest, 2, generator=gen) * torch.tensor([WIDTH, HEIGHT])  # [rest, 2]
    boxes.append(torch.cat([xy, xy + torch.rand(rest, 2, generator=gen) * 150 + 4], 1))
    # background: log10(score) ~ N(-3.5, 0.7): about 24% above 0.001 and 1.6% above 0.01
    scores.append(10 ** (-3.5 + 0.7 * torch.randn(rest, generator=gen)).clamp(max=0.3))
    labels.append(torch.randint(0, NUM_CLASSES, (rest,), generator=gen))
    b = torch.cat(boxes)  # [1000, 4]
    b = torch.stack(
        [b[:, 0].clamp(0, WIDTH - 2), b[:, 1].clamp(0, HEIGHT - 2), b[:, 2], b[:, 3]], 1
    )
    b[:, 2:] = torch.maximum(b[:, 2:], b[:, :2] + 1).clamp(max=torch.tensor([WIDTH, HEIGHT]))
    return b, torch.cat(scores), torch.cat(labels)


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call, in milliseconds."""
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@dataclass(frozen=True)
class Method:
    """A duplicate remover: one image at a time, the whole batch, and how many boxes it kept."""

    name: str
    one: Callable[[int], Any]
    batch: Callable[[], Any]
    num_kept: Callable[[Any], int]


def build_methods(images: list[Image]) -> tuple[list[Method], list[str]]:
    """Every remover that is installed, with its inputs prepared outside the timed calls."""
    boxes = torch.cat([b for b, _, _ in images])  # [B * 1000, 4]
    scores = torch.cat([s for _, s, _ in images])  # [B * 1000]
    idxs = torch.cat([k * NUM_CLASSES + lab for k, (_, _, lab) in enumerate(images)])  # [B * 1000]

    def ours(b: torch.Tensor, s: torch.Tensor, i: torch.Tensor) -> Any:
        return batched_soft_nms(b, s, i, sigma=SIGMA, score_threshold=SCORE_THRESHOLD)

    methods = [
        Method(
            "relnet_dedup.batched_soft_nms",
            lambda k: ours(*images[k]),
            lambda: ours(boxes, scores, idxs),
            lambda out: int(out[0].numel()),
        )
    ]
    notes = []
    try:
        from ensemble_boxes import soft_nms

        arrays = [ensemble_inputs(image) for image in images]

        def theirs(k: int) -> Any:
            return soft_nms(*arrays[k], method=2, sigma=SIGMA, thresh=SCORE_THRESHOLD)

        methods.append(
            Method(
                "ensemble_boxes.soft_nms",
                theirs,
                lambda: [theirs(k) for k in range(len(images))],  # it takes one image per call
                lambda out: len(out[1]),
            )
        )
    except ImportError:
        notes.append("ensemble-boxes is not installed: its row is left out")
    try:
        from torchvision.ops import batched_nms

        methods.append(
            Method(
                "torchvision.ops.batched_nms",
                lambda k: batched_nms(*images[k], NMS_IOU),
                lambda: batched_nms(boxes, scores, idxs, NMS_IOU),
                lambda out: int(out.numel()),
            )
        )
        notes.append("torchvision's NMS has no score threshold: it also keeps the tiny scores")
    except ImportError:
        notes.append("torchvision is not installed: its row is left out")
    if hasattr(relnet_dedup, "learned_batched_nms"):
        from relnet_dedup import DedupConfig, build_dedup_network, learned_batched_nms

        model = build_dedup_network(DedupConfig(use_appearance=False)).eval()

        def learned(b: torch.Tensor, s: torch.Tensor, i: torch.Tensor) -> Any:
            with torch.inference_mode():
                return learned_batched_nms(b, s, i, model)

        methods.append(
            Method(
                "relnet_dedup.learned_batched_nms",
                lambda k: learned(*images[k]),
                lambda: learned(boxes, scores, idxs),
                lambda out: int(out[0].numel()),
            )
        )
        notes.append(
            "learned remover: an untrained network without appearance features, its defaults "
            "(s0 > 0.01, at most 100 per class); only its speed is meaningful here"
        )
    else:
        notes.append("relnet_dedup.learned_batched_nms is not available: its row is left out")
    return methods, notes


def ensemble_inputs(image: Image) -> tuple[list[Any], list[Any], list[Any]]:
    """ensemble-boxes' conventions: lists (one entry per model) of numpy arrays, boxes in [0, 1]."""
    boxes, scores, labels = image
    scale = torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT])  # [4]
    return [(boxes / scale).double().numpy()], [scores.double().numpy()], [labels.numpy()]


def same_kept_sets(images: list[Image]) -> list[bool]:
    """Per image: do we and ensemble-boxes keep the same (label, original score) pairs?

    ensemble-boxes returns the kept boxes' original scores, not the decayed ones; the scores
    here are continuous random numbers, so (label, score) identifies a box.
    """
    from ensemble_boxes import soft_nms

    same = []
    for image in images:
        _, scores, labels = image
        keep, _ = batched_soft_nms(*image, sigma=SIGMA, score_threshold=SCORE_THRESHOLD)
        ours = sorted(zip(labels[keep].tolist(), scores[keep].double().tolist(), strict=True))
        _, eb_scores, eb_labels = soft_nms(
            *ensemble_inputs(image), method=2, sigma=SIGMA, thresh=SCORE_THRESHOLD
        )
        theirs = zip(eb_labels.astype(int).tolist(), eb_scores.tolist(), strict=True)
        same.append(ours == sorted(theirs))
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    images = [synthetic_image(gen) for _ in range(args.images)]
    methods, notes = build_methods(images)

    # methods interleaved image by image, so that a change in machine load hits them all alike
    times: dict[str, list[float]] = {m.name: [] for m in methods}
    counts: dict[str, list[int]] = {m.name: [] for m in methods}
    for k in range(len(images)):
        for method in methods:
            times[method.name].append(median_ms(partial(method.one, k), args.repeats))
            counts[method.name].append(method.num_kept(method.one(k)))
    per_image = {name: statistics.median(t) for name, t in times.items()}
    kept = {name: float(statistics.mean(c)) for name, c in counts.items()}
    per_batch = {m.name: median_ms(m.batch, args.repeats) for m in methods}
    names = [m.name for m in methods]
    same = same_kept_sets(images) if "ensemble_boxes.soft_nms" in names else None
    report(args, images, per_image, per_batch, kept, same, notes)


def report(
    args: argparse.Namespace,
    images: list[Image],
    per_image: dict[str, float],
    per_batch: dict[str, float],
    kept: dict[str, float],
    same: list[bool] | None,
    notes: list[str],
) -> None:
    """One table, then the speed targets and notes."""
    console = Console(width=120)
    reference = per_image.get("ensemble_boxes.soft_nms", math.nan)
    above = statistics.mean(int((s >= SCORE_THRESHOLD).sum()) for _, s, _ in images)
    table = Table(
        title=f"Duplicate removal on CPU, torch {torch.__version__}, {args.threads} thread(s): "
        f"{len(images)} images x {PER_IMAGE} raw detections over {NUM_CLASSES} classes "
        f"({above:.0f} per image with score >= {SCORE_THRESHOLD})"
    )
    table.add_column("method", no_wrap=True)
    for column in ("ms / image", "speed-up vs ensemble-boxes", f"images/s, batch of {len(images)}"):
        table.add_column(column, justify="right")
    table.add_column("kept / image", justify="right")
    table.add_column("same kept set as ensemble-boxes", justify="right")
    for name, ms in per_image.items():
        agree = "-"
        if name == "relnet_dedup.batched_soft_nms" and same is not None:
            agree = f"{sum(same)}/{len(same)} images"
        rate = 1000 * len(images) / per_batch[name]
        versus = "reference" if name == "ensemble_boxes.soft_nms" else f"{reference / ms:.1f}x"
        row = [
            f"{ms:.2f}",
            versus,
            f"{rate:.0f}",
            f"{kept[name]:.1f}",
            agree,
        ]
        table.add_row(name, *row)
    console.print(table)
    console.print(
        f"Soft-NMS: Gaussian, sigma={SIGMA}, score_threshold={SCORE_THRESHOLD}; NMS IoU {NMS_IOU}. "
        f"ms / image: median over images of the median of {args.repeats} runs. images / s: all "
        f"{len(images)} images in one call (idxs = image * {NUM_CLASSES} + label), but "
        "ensemble-boxes, which takes one image per call."
    )
    print_targets(console, per_image, reference, same)
    for note in notes:
        console.print(f"note: {note}")


def print_targets(
    console: Console, per_image: dict[str, float], reference: float, same: list[bool] | None
) -> None:
    """The speed targets, each marked met or MISSED."""
    if not math.isnan(reference):
        speed_up = reference / per_image["relnet_dedup.batched_soft_nms"]
        met = speed_up >= 5 and same is not None and all(same)
        console.print(
            "target: our Soft-NMS >= 5x faster than ensemble-boxes with the same kept set: "
            f"{speed_up:.1f}x -> {'met' if met else 'MISSED'}"
        )
        if "relnet_dedup.learned_batched_nms" in per_image:
            ratio = per_image["relnet_dedup.learned_batched_nms"] / reference
            console.print(
                "target: learned remover <= 0.5x ensemble-boxes' time per image: "
                f"{ratio:.2f}x -> {'met' if ratio <= 0.5 else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
