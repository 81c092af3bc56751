"""Whether two run folders hold the same results bit for bit: ``python scripts/same_runs.py A B``.

Compares every ``checkpoint.pt`` (all tensors and values of the payload), every ``*.pt`` tensor
file, every ``eval.json`` and every ``metrics.jsonl`` found under ``A`` with its counterpart under
``B``, ignoring wall-clock fields (names with ``time``, ``ms``, ``per_s``, ``wall``,
``seconds``) and the writer's ``version`` and ``code_version``. Prints one line per file and
exits 1 if any differs. Used to show that a
refactoring changed no number (issue 18): train the same arms on the old and the new code (for
example ``headline.py --smoke``) and compare the folders.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import torch

CLOCK = ("time", "_ms", "ms_", "per_s", "img_s", "wall", "seconds", "elapsed")
WRITER = ("version", "code_version")  # who wrote the file, not what it holds


def load_pt(path: Path) -> Any:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, dict) and isinstance(data.get("payload"), bytes):  # relnet_core format
        return torch.load(io.BytesIO(data["payload"]), map_location="cpu", weights_only=True)
    return data


def without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        clock = [k for k in value if k in WRITER or any(c in str(k) for c in CLOCK)]
        return {k: without_clock(v) for k, v in value.items() if k not in clock}
    if isinstance(value, list):
        return [without_clock(v) for v in value]
    return value


def same(a: Any, b: Any, where: str, diffs: list[str]) -> None:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ok = (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
        if not ok:
            diffs.append(where)
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            diffs.append(f"{where}: keys {sorted(set(a) ^ set(b))}")
        for key in a.keys() & b.keys():
            same(a[key], b[key], f"{where}.{key}", diffs)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            diffs.append(f"{where}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            same(x, y, f"{where}[{i}]", diffs)
    elif a != b and not (a != a and b != b):  # NaN equals NaN here
        diffs.append(f"{where}: {a!r} vs {b!r}")


def read(path: Path) -> Any:
    if path.suffix == ".pt":
        return without_clock(load_pt(path))
    if path.suffix == ".jsonl":
        return [without_clock(json.loads(line)) for line in path.read_text().splitlines() if line]
    return without_clock(json.loads(path.read_text()))


def main(argv: list[str]) -> int:
    a, b = Path(argv[0]), Path(argv[1])
    files = sorted(
        p.relative_to(a)
        for pattern in ("*.pt", "eval.json", "metrics.jsonl")
        for p in a.rglob(pattern)
    )
    if not files:
        print(f"nothing to compare under {a}", file=sys.stderr)
        return 1
    failed = []
    for rel in files:
        if not (b / rel).exists():
            print(f"MISSING {rel}")
            failed.append(str(rel))
            continue
        diffs: list[str] = []
        same(read(a / rel), read(b / rel), str(rel), diffs)
        print(f"{'same' if not diffs else 'DIFFERENT'} {rel}" + (f": {diffs[:3]}" if diffs else ""))
        if diffs:
            failed.append(str(rel))
    print(f"{len(files) - len(failed)} of {len(files)} files the same")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
