"""The paper's ablation tables on the built-in benchmark (issue 19): Tables 1-4 of Hu et al.
(CVPR 2018) with the ``tiny`` preset and the main job's budget, generated as
``packages/detector/docs/paper-tables.md`` with two plots beside it.

Arms (``_paper_arms.ARMS``), each the ``tiny`` preset with one change, trained with NMS (no dedup
loss) unless end to end:

- Table 1 (§5.1): geometry none / unary / pairwise (``geo-none``, ``geo-unary``, ``rm``), N_r 1,
  4, 8, 16 (``nr1``, ``nr4``, ``nr8``, ``rm``), modules {r1, r2} {0, 0} (``2fc``), {1, 0}
  (``m10``), {0, 1} (``m01``), {1, 1} (``rm``), {2, 2} (``m22``); two seeds each;
- Table 2: 2fc (wider, as many parameters as 2fc+RM), 3fc, 2fc+res {1, 1} and {2, 2} against
  2fc+RM {1, 1} / {2, 2}, with parameters and FLOPs per RoI; one seed for the new heads;
- Table 3 (§5.2): the learned remover (``headline.py``'s recipe) fitted on the frozen 2fc+RM
  detector with its rank, appearance or geometry input removed (or changed) and with eta
  {0.5}, {0.75}, {0.5 .. 0.9}; NMS and Soft-NMS on the same network (pseudo-arm ``rm-t3``);
- Table 4: NMS, Soft-NMS, learned separately, end to end (``e2e``) and the oracle; two seeds;
- the plain-class localisation question: 2fc and 2fc+RM at 2x and 4x the budget (one seed).
  (A 2fc+RM whose box regressor reads the pre-relation feature is not an arm: the heads give
  the predictor one feature per RoI, the post-relation one.)

Run folders land under ``--out`` (default ``runs/paper``), one per arm and seed (``ARM-sSEED``);
a finished run is skipped, an interrupted one resumed exactly, evaluations are cached per row
(``_paper_eval``). Runs are never retrained because the code changed (``--retrain-stale`` does
it): each run folder records the code version that trained it, and the table shows it per arm.
``--reuse DIR`` copies (never moves) finished runs of ``headline.py`` with the same
configuration (arms 2fc, rm, e2e) into ``--out`` and records where they came from::

    python packages/detector/benchmarks/paper.py                        # every arm, seeds 0, 1
    python packages/detector/benchmarks/paper.py --arms nr1 nr4 --threads 1
    python packages/detector/benchmarks/paper.py --reuse runs/headline  # headline's runs
    python packages/detector/benchmarks/paper.py --table-only           # tables from the cache
    python packages/detector/benchmarks/paper.py --smoke --out /tmp/p   # every arm, a few steps
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _headline_setup import benchmark_data, log, read_json, run_dir, train_arm, write_json
from _paper_arms import ABLATION_ARM, ARMS, PRIORITY, paper_config
from _paper_eval import evaluate, evaluate_ablations
from _paper_table import write_tables

from relnet_detector.config import load_config

DOCS = Path(__file__).resolve().parents[1] / "docs"
REUSABLE = ("2fc", "rm", "e2e")  # headline.py's arms, the same configurations here


def reuse(source: Path, out: Path, seeds: list[int]) -> None:
    """Copy ``source``'s finished headline runs whose configuration is the arm's into ``out``
    (those not there yet), each with ``origin.json``: where it came from and its code version."""
    for name in REUSABLE:
        for seed in seeds:
            src, dst = run_dir(source, name, seed), run_dir(out, name, seed)
            if dst.exists() or not (src / "timing.json").is_file():
                continue
            timing = read_json(src / "timing.json")
            if not timing.get("finished"):
                log(f"{src}: not finished, not reused")
                continue
            if load_config(src / "config.toml") != paper_config(name, seed):
                log(f"{src}: another configuration than arm {name}'s, not reused")
                continue
            tmp = dst.with_name(f".{dst.name}.copy")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            write_json(
                tmp / "origin.json",
                {
                    "copied_from": str(src.resolve()),
                    "code_version": timing.get("code_version"),
                    "copied_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                },
            )
            tmp.rename(dst)
            log(f"{dst.name}: copied from {src} (code version {timing.get('code_version')})")


def tasks(arms: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """(arm, seed) in training order: seed after seed, arms in ``arms``' order within a seed;
    an arm needing one seed only gets the first."""
    out = []
    for k, seed in enumerate(seeds):
        for name in arms:
            if name == ABLATION_ARM or k < ARMS[name].seeds:
                out.append((name, seed))
    return out


def main(argv: list[str] | None = None) -> int:
    choices = [*PRIORITY, ABLATION_ARM]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("runs/paper"))
    parser.add_argument("--data", type=Path, default=None, help="COCO folder (default: built-in)")
    parser.add_argument("--smoke", action="store_true", help="a few images and steps, every arm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", nargs="+", default=choices, choices=choices, metavar="ARM")
    parser.add_argument("--reuse", type=Path, default=None, help="headline.py's --out to copy")
    parser.add_argument("--retrain-stale", action="store_true", help="redo other code's runs")
    parser.add_argument("--table-only", action="store_true", help="write the tables, no runs")
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="the tables' markdown (default: packages/detector/docs/paper-tables.md; with "
        "--smoke OUT/paper-tables.md); the plots go beside it",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    doc = args.doc or (out / "paper-tables.md" if args.smoke else DOCS / "paper-tables.md")
    if args.table_only:
        print(write_tables(out, args.seeds, doc))
        return 0
    if args.reuse is not None:
        reuse(args.reuse, out, args.seeds)
    data = benchmark_data(out, smoke=args.smoke, data=args.data)
    from relnet_detector import CocoFolder

    n_train = len(CocoFolder(data, "train"))
    stale = "move" if args.retrain_stale else "keep"
    log(f"data {data}; seeds {args.seeds}; arms {args.arms}; out {out}")
    for name, seed in tasks(args.arms, args.seeds):
        if name == ABLATION_ARM:
            evaluate_ablations(seed, data, out, smoke=args.smoke, restale=args.retrain_stale)
        else:
            config = paper_config(name, seed, smoke=args.smoke)
            full = config.train.epochs * math.ceil(n_train / config.train.batch_size)
            train_arm(name, seed, config, data, out, stale=stale)
            evaluate(
                name, seed, data, out, smoke=args.smoke, full_steps=full,
                restale=args.retrain_stale,
            )  # fmt: skip
        if args.smoke:  # the tables once, at the end
            continue
        try:  # a table that cannot be written yet stops no run: --table-only writes it later
            write_tables(out, args.seeds, doc)
        except Exception as err:
            log(f"tables not written: {type(err).__name__}: {err}")
    print(write_tables(out, args.seeds, doc))
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
