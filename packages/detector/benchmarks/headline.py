"""The headline comparison of the paper on the built-in benchmark (issue 7): relation head and
learned duplicate removal against tuned NMS / Soft-NMS, `tiny` preset, one budget for all arms.

Arms (per seed), all trained with the `tiny` preset's budget (its epochs, batch, lr schedule):

- ``2fc``: the plain head (same hidden_dim), trained with NMS (no dedup loss);
- ``rm``:  the 2fc+RM head, trained with NMS (no dedup loss); evaluated with tuned NMS,
  tuned Soft-NMS and a relnet-dedup network trained separately on its frozen raw output over the
  train split (§4.3), with the head's appearance features and with boxes + scores only;
- ``e2e``: the 2fc+RM head trained end to end with the learned remover (§4.4).

Everything lands under ``--out`` (default ``runs/headline``): one run folder per arm and seed
(skipped when finished, resumed exactly when interrupted), the evaluation cached per arm as
``eval.json`` (keyed by the step it was made at), and the markdown table in ``table.md``::

    python packages/detector/benchmarks/headline.py                 # seeds 0 and 1, full budget
    python packages/detector/benchmarks/headline.py --smoke         # a few images, a few steps

On a shared CPU the whole budget may not fit the time there is. ``--chunk N`` trains the arms of
a seed in rounds of N steps each (arm after arm, never two at once), so at any moment every arm
has had the same number of steps; ``--train-until HH:MM`` (UTC) ends training after the round
that passes that time and evaluates every arm at the common step: an equal, smaller budget,
labelled as such in the table. Running the command again resumes each run towards the full
budget.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _headline_eval import evaluate_arm
from _headline_setup import ARMS, arm_config, benchmark_data, log, train_arm
from _headline_table import write_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "headline.md"


def _past(deadline: str | None, ahead_s: float = 0.0) -> bool:
    """Whether UTC ``HH:MM`` ``deadline`` (today) is passed now, or will be ``ahead_s`` from now
    (past midnight counts as later the same night: a deadline before 12:00 with now after 12:00
    is tomorrow's)."""
    if deadline is None:
        return False
    hours, minutes = (int(x) for x in deadline.split(":"))
    now = time.gmtime(time.time() + ahead_s)
    now_min, dl_min = now.tm_hour * 60 + now.tm_min, hours * 60 + minutes
    if dl_min < 12 * 60 <= now_min and time.gmtime().tm_hour >= 12:
        dl_min += 24 * 60
    return now_min >= dl_min


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("runs/headline"))
    parser.add_argument("--data", type=Path, default=None, help="COCO folder (default: built-in)")
    parser.add_argument("--smoke", action="store_true", help="a few images and steps, end to end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--chunk", type=int, default=0, help="train in equal rounds of N steps")
    parser.add_argument("--train-until", default=None, help="UTC HH:MM: stop training rounds")
    parser.add_argument("--train-only", action="store_true", help="train, do not evaluate")
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="also write the tables here (default: packages/detector/docs/headline.md, which "
        "the detector README quotes; none with --smoke)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    doc = args.doc if args.doc is not None or args.smoke else DOC
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = benchmark_data(out, smoke=args.smoke, data=args.data)
    from relnet_detector import CocoFolder

    n_train = len(CocoFolder(data, "train"))
    log(f"data {data}; seeds {args.seeds}; arms {args.arms}; out {out}")
    # seed-major: every arm of seed 0 first, so a cut-short run still has one full table
    for seed in args.seeds:
        configs = {arm: arm_config(arm, seed, smoke=args.smoke) for arm in args.arms}
        tc = next(iter(configs.values())).train
        full = tc.epochs * math.ceil(n_train / tc.batch_size)
        target, last_round = 0, 0.0
        while target < full:
            if target and _past(args.train_until, ahead_s=last_round):
                log(
                    f"seed {seed}: training stopped at step {target} of {full}: another round "
                    f"({last_round:.0f} s) would pass --train-until {args.train_until}"
                )
                break
            target = min(full, target + args.chunk) if args.chunk else full
            start = time.perf_counter()
            for arm in args.arms:
                train_arm(arm, seed, configs[arm], data, out, max_steps=target)
            last_round = time.perf_counter() - start
        if not args.train_only:
            for arm in args.arms:
                evaluate_arm(arm, seed, data, out, smoke=args.smoke, full_steps=full)
            write_table(out, args.seeds, args.arms, doc)
        if _past(args.train_until):
            log("past --train-until: the remaining seeds are left for a later run")
            break
    if not args.train_only:
        print(write_table(out, args.seeds, args.arms, doc))
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
