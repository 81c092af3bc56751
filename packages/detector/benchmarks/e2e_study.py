"""End-to-end training variants (issue 16): the ``tiny`` preset's e2e arm of ``headline.py`` with
one change each, trained on the built-in benchmark with the same budget, then measured on its own
raw output with ``remover_study.py`` (its own e2e network, tuned NMS / Soft-NMS, the oracle)::

    python packages/detector/benchmarks/e2e_study.py --variants base scores-grad --seeds 0
    python packages/detector/benchmarks/e2e_study.py --table

Run folders are ``--out/e2e-<variant>-s<seed>`` (resumable like the headline's).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _headline_setup import arm_config, log, read_json, train_arm
from remover_study import evaluate_run

from relnet_detector.config import DetectorConfig


def _remover(config: DetectorConfig, **changes: Any) -> DetectorConfig:
    model = replace(config.model, remover=replace(config.model.remover, **changes))
    return replace(config, model=model)


def _train(config: DetectorConfig, **changes: Any) -> DetectorConfig:
    return replace(config, train=replace(config.train, **changes))


VARIANTS = {
    "base": lambda c: c,
    "scores-grad": lambda c: _remover(c, e2e_detach_scores=False),
    "backbone-grad": lambda c: _remover(c, e2e_backbone_gradient=True),
    "authors-grad": lambda c: _remover(c, e2e_detach_scores=False, e2e_backbone_gradient=True),
    "lr1": lambda c: _train(c, dedup_lr_factor=1.0),
    "adam": lambda c: _train(c, dedup_optimizer="adam", dedup_lr_factor=0.15),  # 3e-3
    "adam-1e-2": lambda c: _train(c, dedup_optimizer="adam", dedup_lr_factor=0.5),
    "adam-overlap-relu-first100": lambda c: _remover(
        _train(c, dedup_optimizer="adam", dedup_lr_factor=0.15),
        first_n=100,
        dedup=replace(c.model.remover.dedup, overlap_feature=True, head="relu"),
    ),
    "adam-scores-grad-overlap-relu-first100": lambda c: _remover(
        _train(c, dedup_optimizer="adam", dedup_lr_factor=0.15),
        first_n=100,
        e2e_detach_scores=False,
        dedup=replace(c.model.remover.dedup, overlap_feature=True, head="relu"),
    ),
    "adam-scores-grad": lambda c: _remover(
        _train(c, dedup_optimizer="adam", dedup_lr_factor=0.15), e2e_detach_scores=False
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("runs/e2e-study"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--doc", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from relnet_detector.datasets.synthetic import ensure_synthetic

    data = Path(ensure_synthetic())
    if not args.table:
        for seed in args.seeds:
            for name in args.variants:
                config = VARIANTS[name](arm_config("e2e", seed))
                folder = f"e2e-{name}"
                train_arm(folder, seed, config, data, args.out)
                evaluate_run(args.out / f"{folder}-s{seed}", data, [], [seed], 0)
    lines = [
        "| run | e2e | best NMS | best Soft-NMS | separate refit | oracle | e2e crowd AP |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in sorted(args.out.glob("e2e-*-s*")):
        path = run / "study" / "results.json"
        if not path.is_file():
            continue
        rows = read_json(path)
        nms = max(v["AP"] for k, v in rows.items() if k.startswith("nms-"))
        soft = max(v["AP"] for k, v in rows.items() if k.startswith("soft-nms-"))
        e2e = rows["e2e"]
        refit = f"{100 * rows['base-s0']['AP']:.1f}" if "base-s0" in rows else "-"
        lines.append(
            f"| {run.name} | {100 * e2e['AP']:.1f} | {100 * nms:.1f} | {100 * soft:.1f} | "
            f"{refit} | {100 * rows['oracle']['AP']:.1f} | {100 * e2e['crowd_AP']:.1f} |"
        )
    log("\n" + "\n".join(lines))
    if args.doc is not None:
        args.doc.write_text(
            "<!-- written by packages/detector/benchmarks/e2e_study.py --table; do not edit by "
            "hand -->\n\n" + "\n".join(lines) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
