"""Speed of the relation detector against the same detector with a plain head and NMS.

The ``tiny`` preset with its 2fc+RM head and end-to-end learned remover, against the same model
with the 2fc head (same width) and NMS: training images/s (forward + backward + SGD step, after
warm-up steps) and inference images/s and ms/image, side by side in one run, with the ratios.
Images are generated in memory (coloured rectangles on noise, a few to a dozen per image).

    python packages/detector/benchmarks/bench_speed.py [--steps 10] [--threads 2] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from relnet_detector import build_detector
from relnet_detector.config import DetectorConfig, ModelConfig, RemoverConfig


def make_batch(
    n: int, size: int, num_classes: int, generator: torch.Generator
) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """``n`` images ``[3, size, size]`` with 3 to 12 rectangles each, one colour per class."""
    colours = torch.rand(num_classes, 3, generator=generator)
    images, targets = [], []
    for _ in range(n):
        image = torch.rand(3, size, size, generator=generator) * 0.3
        count = int(torch.randint(3, 13, (1,), generator=generator))
        wh = torch.randint(size // 10, size // 3, (count, 2), generator=generator).float()
        xy = torch.rand(count, 2, generator=generator) * (size - wh)
        boxes = torch.cat([xy, xy + wh], dim=1).floor()  # [G, 4]
        labels = torch.randint(1, num_classes + 1, (count,), generator=generator)
        for box, label in zip(boxes.long().tolist(), labels.tolist(), strict=True):
            image[:, box[1] : box[3], box[0] : box[2]] = colours[label - 1][:, None, None]
        images.append(image)
        targets.append({"boxes": boxes, "labels": labels})
    return images, targets


class Subject:
    """One model under test with its optimizer and a rotating set of batches."""

    def __init__(self, config: ModelConfig, args: argparse.Namespace) -> None:
        torch.manual_seed(args.seed)
        self.model = build_detector(config, args.classes)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4
        )
        generator = torch.Generator().manual_seed(args.seed)
        self.batches = [
            make_batch(args.batch, args.size, args.classes, generator) for _ in range(4)
        ]
        self.step_index = 0

    def _next(self) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
        self.step_index += 1
        return self.batches[self.step_index % len(self.batches)]

    def train_step(self) -> None:
        """Forward, backward and an SGD step on one batch."""
        images, targets = self._next()
        self.model.train()
        loss = sum(self.model(images, targets).values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def infer_step(self) -> None:
        """Eval-mode forward (network and duplicate removal) on one batch."""
        images, _ = self._next()
        self.model.eval()
        with torch.inference_mode():
            self.model(images)


def interleaved(
    steps: dict[str, Callable[[], object]], repeats: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Median seconds per call of each step, the steps taken in turn (ABAB...) so that a change
    of the machine's load hits every subject alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--batch", type=int, default=8, help="images per step")
    parser.add_argument("--size", type=int, default=160, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=8, help="object classes")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pretrain", type=int, default=0, help="more untimed training steps (a steadier model)"
    )
    parser.add_argument(
        "--cpu-time", action="store_true", help="process CPU time, not wall clock (shared hosts)"
    )
    parser.add_argument("--markdown", action="store_true", help="a markdown table, not rich")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    relation = DetectorConfig().model  # the tiny preset: 2fc+RM head, end-to-end remover
    plain = dataclasses.replace(
        relation,
        head=dataclasses.replace(relation.head, kind="2fc"),
        remover=RemoverConfig(method="nms"),
    )
    subjects = {
        "2fc + NMS": Subject(plain, args),
        "2fc+RM + NMS": Subject(dataclasses.replace(relation, remover=plain.remover), args),
        "2fc+RM + e2e": Subject(relation, args),
    }
    clock = time.process_time if args.cpu_time else time.perf_counter
    for _ in range(args.warmup + args.pretrain):
        for subject in subjects.values():
            subject.train_step()
    train_s = interleaved({n: s.train_step for n, s in subjects.items()}, args.steps, clock)
    for subject in subjects.values():
        subject.infer_step()  # one untimed eval forward
    infer_s = interleaved({n: s.infer_step for n, s in subjects.items()}, args.steps, clock)
    rows = {
        n: {"train": args.batch / train_s[n], "infer": args.batch / infer_s[n]} for n in subjects
    }
    header = ["model", "train img/s", "infer img/s", "infer ms/img"]
    lines = [
        [name, f"{r['train']:.1f}", f"{r['infer']:.1f}", f"{1000 / r['infer']:.1f}"]
        for name, r in rows.items()
    ]
    ratios = [("2fc+RM + NMS", "2fc + NMS"), ("2fc+RM + e2e", "2fc + NMS")]
    ratios.append(("2fc+RM + e2e", "2fc+RM + NMS"))
    for name, against in ratios:
        lines.append(
            [
                f"time ratio {name} / {against}",
                f"{rows[against]['train'] / rows[name]['train']:.2f}x",
                f"{rows[against]['infer'] / rows[name]['infer']:.2f}x",
                "",
            ]
        )
    setting = (
        f"tiny preset, {args.size} px, batch {args.batch}, {args.classes} classes, "
        f"{args.threads} threads, median of {args.steps} steps after {args.warmup} warm-up "
        f"+ {args.pretrain} training steps, {'CPU' if args.cpu_time else 'wall'} time"
    )
    print(setting)
    markdown = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        + ["| " + " | ".join(line) + " |" for line in lines]
    )
    if args.out is not None:
        command = " ".join(["benchmarks/bench_speed.py", *sys.argv[1:]])
        written = f"<!-- written by {command}; do not edit by hand -->\n\n"
        args.out.write_text(f"{written}{setting}\n\n{markdown}\n")
    if args.markdown:
        print(markdown)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for line in lines:
        table.add_row(*line)
    Console().print(table)


if __name__ == "__main__":
    main()
