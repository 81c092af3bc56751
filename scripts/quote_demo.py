"""Put the table of a finished ``nox -s demo`` run into the root README: ``python
scripts/quote_demo.py runs/demo``.

The block between ``<!-- demo:begin -->`` and ``<!-- demo:end -->`` is replaced by the run's
``eval.md`` (written by the demo session), the session's time (``session.json``) and one line
from its ``metrics.jsonl``: training time and val mAP after each epoch. Nothing in the block
is typed by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- demo:begin -->\n).*?(<!-- demo:end -->)", re.DOTALL)


def block(run: Path) -> str:
    table = (run / "eval.md").read_text()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    epochs = [line for line in lines if line.get("kind") == "epoch"]
    seconds = sum(e["seconds"] for e in epochs)
    maps = ", ".join(f"{100 * e['mAP']:.1f}" for e in epochs if "mAP" in e)
    session = run / "session.json"  # written by a demo session that trained the run
    wall = ""
    if session.is_file():
        timing = json.loads(session.read_text())
        load = timing.get("load_15min")
        busy = f" (load average over its last 15 min: {load:.1f})" if load is not None else ""
        wall = (
            f"`nox -s demo` took {timing['seconds'] / 60:.1f} min on {timing['cpus']} CPUs{busy}. "
        )
    return (
        f"{wall}Training: {len(epochs)} epochs in {seconds / 60:.1f} min; val mAP after each "
        f"epoch (the first 100 val images, the training remover): {maps}. COCO AP x 100 on the 500 "
        f"val images:\n\n{table}"
    )


def main(argv: list[str]) -> int:
    run = Path(argv[0]) if argv else ROOT / "runs" / "demo"
    readme = ROOT / "README.md"
    text = readme.read_text()
    if not BLOCK.search(text):
        print(f"{readme} has no <!-- demo:begin --> ... <!-- demo:end --> block", file=sys.stderr)
        return 1
    readme.write_text(BLOCK.sub(lambda m: m.group(1) + block(run) + m.group(2), text))
    print(f"README.md: the demo block now quotes {run}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
