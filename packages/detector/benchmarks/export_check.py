"""The exported detector against eager PyTorch on the headline runs: file size, export time,
agreement and per-image latency, for every exportable remover, in ONNX (onnxruntime) and
TorchScript.

Arms: the headline's 2fc+RM run (seed 0) with NMS and with its separately learned remover (the
headline's ``overlap-relu-first100`` network), and the end-to-end run (seed 0) with its own
remover. Each is traced on the first val image of the built-in benchmark and run on the first
``--images`` val images (other sizes than the traced one). Agreement: per image, the same number
of detections and, each matched to its twin (same label, nearest box), the largest box and score
difference. Latency: one image at a time, ``--threads`` threads for torch and for onnxruntime,
eager and the two files called side by side on each image over ``--repeat`` passes, the median
after each one's first call (the first call is reported apart). For scale, the same
agreement of eager PyTorch with itself when its raw detections (before the remover) are jittered
by about what onnxruntime's float32 rounding moves them: boxes by up to ``BOX_JITTER`` px, scores
``s0`` by up to ``SCORE_JITTER``. Writes ``export.md``.

    python packages/detector/benchmarks/export_check.py [--runs runs/headline] [--images 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _headline_setup import code_version
from _study_variants import HEADLINE, learned_remover
from PIL import Image
from torch import Tensor

from relnet_detector import load_detector
from relnet_detector.export import export_detector
from relnet_detector.modeling.removers import remove_duplicates

Detections = tuple[Tensor, Tensor, Tensor]  # boxes [K, 4], labels [K], scores [K]
BOX_JITTER, SCORE_JITTER = 5e-4, 3.5e-5  # NMS's largest onnxruntime differences on these runs


def read_images(data: Path, count: int) -> list[Tensor]:
    files = sorted((data / "images" / "val").glob("*.png"))[:count]
    return [
        torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).float() / 255
        for f in files
    ]


def agreement(expected: Detections, got: Detections) -> tuple[bool, float, float]:
    """Whether ``got`` has ``expected``'s detections (count and labels, each matched to the
    exported twin of its label with the nearest box), and the largest box and score gaps."""
    if got[0].shape != expected[0].shape:
        return False, float("inf"), float("inf")
    if len(got[0]) == 0:
        return True, 0.0, 0.0
    distance = (got[0][None] - expected[0][:, None]).abs().amax(dim=-1)  # [K, K]
    distance += (got[1][None] != expected[1][:, None]) * 1e9
    twin = distance.argmin(dim=1)  # [K]
    same = bool(torch.equal(twin.sort().values, torch.arange(len(twin))))
    same &= bool(torch.equal(got[1][twin], expected[1]))
    box_gap = float((got[0][twin] - expected[0]).abs().max())
    return same, box_gap, float((got[2][twin] - expected[2]).abs().max())


def interleaved(
    calls: dict[str, Callable[[Tensor], Detections]], images: Sequence[Tensor], repeat: int
) -> tuple[dict[str, list[Detections]], dict[str, float], dict[str, float]]:
    """Every call on every image, side by side (call after call on each image), ``repeat``
    passes: each call's outputs of the first pass, its first call's ms and the median ms of its
    other calls."""
    outs: dict[str, list[Detections]] = {name: [] for name in calls}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for rep in range(repeat):
        for image in images:
            for name, call in calls.items():
                start = time.perf_counter()
                out = call(image)
                times[name].append((time.perf_counter() - start) * 1e3)
                if rep == 0:
                    outs[name].append(out)
    first = {name: t[0] for name, t in times.items()}
    return outs, first, {name: statistics.median(t[1:]) for name, t in times.items()}


def arms(runs: Path) -> list[tuple[str, Path, str, Path | None]]:
    """(name, run, remover, learned checkpoint) of each arm."""
    learned = runs / "rm-s0" / "study" / f"{HEADLINE['learned'].name}-s0.pt"
    return [
        ("2fc+RM, NMS", runs / "rm-s0", "nms", None),
        ("2fc+RM, learned separately", runs / "rm-s0", "learned", learned),
        ("2fc+RM e2e, learned end to end", runs / "e2e-s0", "e2e", None),
    ]


def check_arm(
    run: Path,
    remover: str,
    checkpoint: Path | None,
    images: list[Tensor],
    threads: int,
    repeat: int,
) -> list[dict[str, Any]]:
    loaded = load_detector(run / "checkpoint.pt")
    model = loaded.model.eval()
    base = loaded.config.model.remover
    if checkpoint is not None:
        config, _ = learned_remover(base, HEADLINE["learned"], checkpoint)
    else:
        config = dataclasses.replace(base, method=remover)
    model.set_remover(config)

    def eager(image: Tensor) -> Detections:
        with torch.inference_mode():
            (out,) = model([image])
        return out["boxes"], out["labels"], out["scores"]

    with tempfile.TemporaryDirectory() as tmp:
        calls: dict[str, Callable[[Tensor], Detections]] = {"eager": eager}
        sizes, export_s = {}, {}
        for format in ("onnx", "torchscript"):
            path = Path(tmp) / f"detector.{format}"
            start = time.perf_counter()
            export_detector(model, images[0], path, format)
            export_s[format] = time.perf_counter() - start
            sizes[format] = path.stat().st_size / 1e6
            calls[format] = load_exported(path, format, threads)
        outs, first, median = interleaved(calls, images, repeat)
    expected = outs["eager"]
    generator = torch.Generator().manual_seed(0)
    jittered = []
    for image, want in zip(images, expected, strict=True):
        with torch.inference_mode():
            (raw,) = model.raw_detections([image])
            raw.boxes = (
                raw.boxes + (torch.rand(raw.boxes.shape, generator=generator) * 2 - 1) * BOX_JITTER
            )
            raw.scores = (
                raw.scores
                + (torch.rand(raw.scores.shape, generator=generator) * 2 - 1) * SCORE_JITTER
            )
            out = remove_duplicates(raw, model.remover, model.dedup_network)
        jittered.append(agreement(want, (out["boxes"], out["labels"], out["scores"])))
    rows = []
    for format in ("onnx", "torchscript"):
        checks = [agreement(e, g) for e, g in zip(expected, outs[format], strict=True)]
        rows.append(
            {
                "format": format,
                "mb": sizes[format],
                "export_s": export_s[format],
                "same": sum(c[0] for c in checks),
                "box_gap": max(c[1] for c in checks),
                "score_gap": max(c[2] for c in checks),
                "detections": sum(len(e[0]) for e in expected),
                "first_ms": first[format],
                "ms": median[format],
                "eager_first_ms": first["eager"],
                "eager_ms": median["eager"],
                "jitter_same": sum(c[0] for c in jittered),
                "jitter_score_gap": max(c[2] for c in jittered),
            }
        )
    return rows


def load_exported(path: Path, format: str, threads: int) -> Callable[[Tensor], Detections]:
    """The exported file at ``path`` as a call image -> detections."""
    if format == "torchscript":
        traced = torch.jit.load(str(path))

        def run_torchscript(image: Tensor) -> Detections:
            with torch.no_grad():
                return traced(image)  # type: ignore[no-any-return]

        return run_torchscript
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # no busy-waiting of its threads after a call: it would take the cores from the next call
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run_onnx(image: Tensor) -> Detections:
        boxes, labels, scores = session.run(None, {"image": image.numpy()})
        return torch.from_numpy(boxes), torch.from_numpy(labels), torch.from_numpy(scores)

    return run_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/headline"))
    parser.add_argument(
        "--data", type=Path, default=Path.home() / ".cache" / "relnet" / "synthetic-v1-seed0"
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the images")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parents[1] / "docs" / "export.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = read_images(args.data, args.images)
    lines = [
        "# The exported detector against eager PyTorch",
        "",
        f"Written by `benchmarks/export_check.py` at code version {code_version()}: the "
        f"headline runs in `{args.runs}`, traced on the first val image of the built-in "
        f"benchmark and run on the first {len(images)} ({len({i.shape for i in images})} "
        f"sizes), one image per call, {args.threads} threads (torch and onnxruntime). "
        "Agreement: images whose detections are the eager ones (count, labels, each matched to "
        "its twin), and the largest box (px) and score differences over all images. Latency: "
        f"ms per image over {args.repeat} passes, eager and the two files called side by side "
        "on each image (onnxruntime's threads not spinning between calls), the median after "
        "each one's first call (first call in brackets; eager's comes after the traces). "
        "Jittered "
        "eager: eager PyTorch against itself with its raw detections moved by up to "
        f"{BOX_JITTER:g} px and their scores by up to {SCORE_JITTER:g} (about what "
        "onnxruntime's rounding moves them), the learned removers' own sensitivity.",
        "",
        "| model and remover | format | file MB | export s | same detections | max box diff "
        "px | max score diff | jittered eager: same, max score diff | exported ms/img | "
        "eager ms/img |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run, remover, checkpoint in arms(args.runs):
        for row in check_arm(run, remover, checkpoint, images, args.threads, args.repeat):
            lines.append(
                f"| {name} | {row['format']} | {row['mb']:.1f} | {row['export_s']:.1f} | "
                f"{row['same']}/{len(images)} ({row['detections']} detections) | "
                f"{row['box_gap']:.1e} | {row['score_gap']:.1e} | "
                f"{row['jitter_same']}/{len(images)}, {row['jitter_score_gap']:.1e} | "
                f"{row['ms']:.0f} ({row['first_ms']:.0f}) | "
                f"{row['eager_ms']:.0f} ({row['eager_first_ms']:.0f}) |"
            )
            print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
