"""Speed of the duplicate removers on raw detections (paper §4.3, 'Inference'; Table 4).

Two cases, per image 1000 raw detections over 80 classes:

* ``sparse``: most scores tiny, a handful of classes present, each with clusters of duplicates
  around its objects (about 250 detections per image above ``s0 = 0.01``);
* ``dense``: 40 objects of random classes, 25 jittered detections each, every score above 0.01, so
  after the ``first_n = 100`` selection the learned remover sees 30-40k within-group pairs.

Measured side by side in one run, methods interleaved image by image: our batched Soft-NMS,
ensemble-boxes' Soft-NMS (same sigma and threshold, Gaussian; the kept sets are compared),
torchvision's batched NMS and the learned remover (untrained networks: only their speed matters
here), (a) on boxes and scores, (b) with 1024-d appearance features (the end-to-end detector's
case). Per-image times are medians over repeats; images/second is for one batch of all images
(one call with ``idxs = image * 80 + label`` where the method can batch images). Below each table:
the within-group pairs per image, the learned remover's time per pair, and a floor estimated from
the FLOPs and transcendentals of its remaining work at this machine's measured rates.

    python packages/dedup/benchmarks/bench_speed.py [--case both] [--repeats 5] [--threads 1]
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

from relnet_dedup import batched_soft_nms

NUM_CLASSES, PER_IMAGE, WIDTH, HEIGHT = 80, 1000, 640.0, 480.0
DENSE_OBJECTS, DENSE_COPIES = 40, 25  # dense case: 40 objects x 25 detections
FEAT_DIM = 1024  # appearance features of the second learned remover
SIGMA, SCORE_THRESHOLD, NMS_IOU = 0.5, 0.001, 0.5
LEARNED = "learned_batched_nms, boxes and scores"
LEARNED_FEATURES = f"learned_batched_nms, {FEAT_DIM}-d appearance"
ENSEMBLE, TORCHVISION = "ensemble_boxes.soft_nms", "torchvision.ops.batched_nms"


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


def dense_image(gen: torch.Generator) -> Image:
    """Boxes [1000, 4], scores [1000] (all > 0.01), labels [1000]: 40 objects of random classes,
    25 jittered detections of each."""
    wh = torch.rand(DENSE_OBJECTS, 2, generator=gen) * torch.tensor([200.0, 160.0]) + 20  # [O, 2]
    xy = torch.rand(DENSE_OBJECTS, 2, generator=gen) * (torch.tensor([WIDTH, HEIGHT]) - wh)
    centre = torch.cat([xy, xy + wh], dim=1).repeat_interleave(DENSE_COPIES, 0)  # [1000, 4]
    scale = wh.repeat(1, 2).repeat_interleave(DENSE_COPIES, 0)  # [1000, 4]
    boxes = centre + torch.randn(PER_IMAGE, 4, generator=gen) * scale * 0.08  # [1000, 4]
    size = torch.tensor([WIDTH, HEIGHT])
    boxes[:, :2] = torch.minimum(boxes[:, :2].clamp(min=0), size - 2)  # inside the image
    boxes[:, 2:] = torch.minimum(torch.maximum(boxes[:, 2:], boxes[:, :2] + 1), size)
    peak = (0.3 + 0.65 * torch.rand(DENSE_OBJECTS, generator=gen)).repeat_interleave(DENSE_COPIES)
    scores = 0.011 + (peak - 0.011) * torch.rand(PER_IMAGE, generator=gen).pow(2)  # [1000]
    labels = torch.randint(0, NUM_CLASSES, (DENSE_OBJECTS,), generator=gen)
    return boxes, scores, labels.repeat_interleave(DENSE_COPIES)


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
                ENSEMBLE,
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
                TORCHVISION,
                lambda k: batched_nms(*images[k], NMS_IOU),
                lambda: batched_nms(boxes, scores, idxs, NMS_IOU),
                lambda out: int(out.numel()),
            )
        )
        notes.append("torchvision's NMS has no score threshold: it also keeps the tiny scores")
    except ImportError:
        notes.append("torchvision is not installed: its row is left out")
    from relnet_dedup import DedupConfig, build_dedup_network, learned_batched_nms

    plain = build_dedup_network(DedupConfig(use_appearance=False)).eval()
    with_features = build_dedup_network(DedupConfig(feat_dim=FEAT_DIM)).eval()
    gen = torch.Generator().manual_seed(1)
    features = [torch.randn(len(s), FEAT_DIM, generator=gen) for _, s, _ in images]  # [1000, D]
    all_features = torch.cat(features)  # [B * 1000, D]

    def learned(*args: Any) -> Any:
        with torch.inference_mode():
            return learned_batched_nms(*args)

    methods += [
        Method(
            LEARNED,
            lambda k: learned(*images[k], plain),
            lambda: learned(boxes, scores, idxs, plain),
            lambda out: int(out[0].numel()),
        ),
        Method(
            LEARNED_FEATURES,
            lambda k: learned(*images[k], with_features, features[k]),
            lambda: learned(boxes, scores, idxs, with_features, all_features),
            lambda out: int(out[0].numel()),
        ),
    ]
    notes.append(
        "learned removers: untrained networks, defaults (s0 > 0.01, at most 100 per class), "
        f"random {FEAT_DIM}-d features for the second; only their speed is meaningful here"
    )
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


def pairs_per_image(image: Image, first_n: int = 100, threshold: float = 0.01) -> int:
    """Within-group pairs the learned remover sees: sum over classes of n^2, ``n`` the number
    of detections with ``s0 > threshold``, at most ``first_n``."""
    _, scores, labels = image
    counts = torch.bincount(labels[scores > threshold], minlength=NUM_CLASSES)  # [C]
    return int(counts.clamp(max=first_n).pow(2).sum())


def machine_rates() -> tuple[float, float]:
    """This machine's float32 matrix-product rate (FLOP/s, ``[1000, 128] @ [128, 1024]``) and
    sine rate (values/s, 1M values), with the current number of threads."""
    a, b, x = torch.randn(1000, 128), torch.randn(128, 1024), torch.rand(1 << 20) * 500
    gemm = median_ms(lambda: a @ b, 20) / 1e3
    sine = median_ms(x.sin, 20) / 1e3
    return 2 * 1000 * 128 * 1024 / gemm, x.numel() / sine


def floor_ms(pairs: float, objects: float, appearance: bool, rates: tuple[float, float]) -> float:
    """A lower bound on the learned remover's time for one image, from the work left per pair
    and per object (the paper's sizes: d = 128, N_r = 16, d_k = 64, d_g = 64, 5 thresholds).

    Per pair: ``W_G`` on the position half (32 sines and cosines -> 16: 1024 FLOP), the separable
    size-ratio half (32 -> 16: 1024 FLOP), the weights times the values (2 d = 256 FLOP), the
    softmax's adds (about 5 N_r); 2 logs, 32 sines and cosines, 16 logs of ``w_G``, 16 exps.
    Per object with appearance: ``W_f`` (1024 -> 128), ``W_fR``, ``W_Q``, ``W_K`` (128 -> 1024),
    ``W_V`` and the classifier. Transcendentals are counted at the sine's rate.
    """
    gemm, transcendental = rates
    flop_pair = 1024 + 1024 + 256 + 5 * 16
    per_object = 1024 * 128 + 128 * 128 + 2 * 128 * 1024 + 128 * 128 + 128 * 5 if appearance else 0
    seconds = pairs * (flop_pair / gemm + 66 / transcendental) + objects * 2 * per_object / gemm
    return 1e3 * seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--case", choices=["sparse", "dense", "both"], default="both")
    parser.add_argument(
        "--images", type=int, default=None, help="per case (default: 8 sparse, 6 dense)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=130)
    rates = machine_rates()
    for case in ("sparse", "dense") if args.case == "both" else (args.case,):
        make = synthetic_image if case == "sparse" else dense_image
        count = args.images if args.images is not None else (8 if case == "sparse" else 6)
        gen = torch.Generator().manual_seed(args.seed)
        images = [make(gen) for _ in range(count)]
        run_case(console, case, images, args, rates)


def run_case(
    console: Console,
    case: str,
    images: list[Image],
    args: argparse.Namespace,
    rates: tuple[float, float],
) -> None:
    """Time every method on ``images``, interleaved image by image, and print the table."""
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
    same = same_kept_sets(images) if ENSEMBLE in names else None
    report(console, case, args, images, per_image, per_batch, kept, same, notes)
    pairs = statistics.mean(pairs_per_image(image) for image in images)
    objects = statistics.mean(
        int(torch.bincount(lab[s > 0.01], minlength=NUM_CLASSES).clamp(max=100).sum())
        for _, s, lab in images
    )
    for name, appearance in ((LEARNED, False), (LEARNED_FEATURES, True)):
        floor = floor_ms(pairs, objects, appearance, rates)
        console.print(
            f"{name}: {pairs:.0f} within-group pairs and {objects:.0f} detections per image, "
            f"{1e6 * per_image[name] / max(pairs, 1):.0f} ns per pair; estimated floor "
            f"{floor:.2f} ms / image ({per_image[name] / floor:.1f}x of it)"
        )
    console.print(
        f"floor: at this machine's measured {rates[0] / 1e9:.0f} GFLOP/s (float32 matrix product) "
        f"and {rates[1] / 1e6:.0f} M sines/s, {args.threads} thread(s); see floor_ms"
    )


def report(
    console: Console,
    case: str,
    args: argparse.Namespace,
    images: list[Image],
    per_image: dict[str, float],
    per_batch: dict[str, float],
    kept: dict[str, float],
    same: list[bool] | None,
    notes: list[str],
) -> None:
    """One table, then the speed targets and notes."""
    reference = per_image.get(ENSEMBLE, math.nan)
    nms = per_image.get(TORCHVISION, math.nan)
    above = statistics.mean(int((s > 0.01).sum()) for _, s, _ in images)
    table = Table(
        title=f"{case} case: duplicate removal on CPU, torch {torch.__version__}, "
        f"{args.threads} thread(s): {len(images)} images x {PER_IMAGE} raw detections over "
        f"{NUM_CLASSES} classes ({above:.0f} per image with score > 0.01)"
    )
    table.add_column("method", no_wrap=True)
    for column in (
        "ms / image",
        "time / ensemble-boxes",
        "time / torchvision NMS",
        f"images/s, batch of {len(images)}",
        "kept / image",
        "same kept set as ensemble-boxes",
    ):
        table.add_column(column, justify="right")
    for name, ms in per_image.items():
        agree = "-"
        if name == "relnet_dedup.batched_soft_nms" and same is not None:
            agree = f"{sum(same)}/{len(same)} images"
        rate = 1000 * len(images) / per_batch[name]
        table.add_row(
            name,
            f"{ms:.2f}",
            f"{ms / reference:.2f}x",
            f"{ms / nms:.1f}x",
            f"{rate:.0f}",
            f"{kept[name]:.1f}",
            agree,
        )
    console.print(table)
    console.print(
        f"Soft-NMS: Gaussian, sigma={SIGMA}, score_threshold={SCORE_THRESHOLD}; NMS IoU {NMS_IOU}. "
        f"ms / image: median over images of the median of {args.repeats} runs. images / s: all "
        f"{len(images)} images in one call (idxs = image * {NUM_CLASSES} + label), but "
        "ensemble-boxes, which takes one image per call."
    )
    print_targets(console, per_image, reference, nms, same, args.threads)
    for note in notes:
        console.print(f"note: {note}")


def print_targets(
    console: Console,
    per_image: dict[str, float],
    reference: float,
    nms: float,
    same: list[bool] | None,
    threads: int,
) -> None:
    """The speed targets (issue 9), each marked met or MISSED."""

    def line(text: str, value: float, limit: float) -> None:
        verdict = "met" if value <= limit else "MISSED"
        console.print(f"target: {text} <= {limit}x: {value:.2f}x -> {verdict}")

    if math.isnan(reference):
        return
    speed_up = reference / per_image["relnet_dedup.batched_soft_nms"]
    met = speed_up >= 5 and same is not None and all(same)
    console.print(
        "target: our Soft-NMS >= 5x faster than ensemble-boxes with the same kept set: "
        f"{speed_up:.1f}x -> {'met' if met else 'MISSED'}"
    )
    line(
        "boxes-and-scores remover / ensemble-boxes",
        per_image[LEARNED] / reference,
        0.2 if threads >= 2 else 0.3,
    )
    if threads >= 2:
        line("appearance remover / ensemble-boxes", per_image[LEARNED_FEATURES] / reference, 0.5)
        if not math.isnan(nms):
            line("boxes-and-scores remover / torchvision NMS", per_image[LEARNED] / nms, 12.0)


if __name__ == "__main__":
    main()
