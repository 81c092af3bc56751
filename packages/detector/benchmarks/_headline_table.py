"""The markdown tables of ``headline.py`` from the per-arm ``eval.json`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _headline_setup import read_json, run_dir

# (arm, remover row, label of the model, label of the remover)
ROWS = (
    ("2fc", "nms", "2fc", "NMS (best Nt on val)"),
    ("2fc", "soft-nms", "2fc", "Soft-NMS (best sigma on val)"),
    ("2fc", "oracle", "2fc", "oracle"),
    ("rm", "nms", "2fc+RM", "NMS (best Nt on val)"),
    ("rm", "soft-nms", "2fc+RM", "Soft-NMS (best sigma on val)"),
    ("rm", "learned", "2fc+RM", "learned, separate (§4.3)"),
    ("rm", "learned-4ep", "2fc+RM", "learned, separate, 4 epochs (e2e's budget)"),
    ("rm", "learned-boxes", "2fc+RM", "learned, separate, boxes + scores only"),
    ("rm", "oracle", "2fc+RM", "oracle"),
    ("e2e", "e2e", "2fc+RM e2e (§4.4)", "learned, end to end"),
    ("e2e", "nms", "2fc+RM e2e (§4.4)", "NMS (best Nt on val)"),
    ("e2e", "soft-nms", "2fc+RM e2e (§4.4)", "Soft-NMS (best sigma on val)"),
    ("e2e", "oracle", "2fc+RM e2e (§4.4)", "oracle"),
)
METRICS = (
    ("AP", "mAP"),
    ("AP50", "mAP50"),
    ("AP75", "mAP75"),
    ("context_AP", "context AP"),
    ("plain_AP", "plain AP"),
    ("crowd_AP", "crowd-scene AP"),
    ("crowd_recall50", "crowd R@.5"),
    ("crowd_recall75", "crowd R@.75"),
)
# the paper's claims as (label, (arm, row) better, (arm, rows) baseline: the best of them)
GAINS = (
    ("RM head vs 2fc (NMS)", ("rm", "nms"), ("2fc", ("nms",))),
    ("RM head vs 2fc (Soft-NMS)", ("rm", "soft-nms"), ("2fc", ("soft-nms",))),
    ("learned vs best NMS / Soft-NMS (same model)", ("rm", "learned"), ("rm", ("nms", "soft-nms"))),
    ("e2e vs learned separately", ("e2e", "e2e"), ("rm", ("learned",))),
    ("e2e vs learned separately, 4 epochs", ("e2e", "e2e"), ("rm", ("learned-4ep",))),
    ("e2e vs best of NMS / Soft-NMS (same model)", ("e2e", "e2e"), ("e2e", ("nms", "soft-nms"))),
    ("e2e vs 2fc + best of NMS / Soft-NMS", ("e2e", "e2e"), ("2fc", ("nms", "soft-nms"))),
)  # fmt: skip


def load_results(out: Path, seeds: list[int], arms: list[str]) -> dict[tuple[str, int], Any]:
    results = {}
    for arm in arms:
        for seed in seeds:
            path = run_dir(out, arm, seed) / "eval.json"
            if path.is_file():
                results[(arm, seed)] = read_json(path)
    return results


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    v = [100 * x for x in values]
    if len(v) == 1:
        return f"{v[0]:.1f}"
    return f"{np.mean(v):.1f} ± {(max(v) - min(v)) / 2:.1f}"


def _setting(rows: list[dict[str, Any]]) -> str:
    parts = []
    for row in rows:
        setting = row.get("setting") or {}
        for key, value in setting.items():
            parts.append(f"{'Nt' if key == 'nms_threshold' else 'sigma'} {value:g}")
    return " / ".join(parts) if parts else ""


def write_table(out: Path, seeds: list[int], arms: list[str], doc: Path | None = None) -> str:
    """The markdown of every table, from the arms' ``eval.json``; written to ``out/table.md``
    and to ``doc`` if given. Refuses evaluations of different code versions."""
    results = load_results(out, seeds, arms)
    versions = sorted({str(res.get("code_version")) for res in results.values()})
    if len(versions) > 1:
        found = {f"{arm}-s{seed}": res.get("code_version") for (arm, seed), res in results.items()}
        raise ValueError(f"the evaluations come from different code versions: {found}")
    lines = [
        "| model | remover | " + " | ".join(label for _, label in METRICS)
        + " | removal ms/img | setting |",
        "|---|---|" + "---:|" * (len(METRICS) + 1) + "---|",
    ]  # fmt: skip
    for arm, row, model_label, remover_label in ROWS:
        found = [results[(arm, s)]["rows"].get(row) for s in seeds if (arm, s) in results]
        found = [r for r in found if r is not None]
        if not found:
            continue
        cells = [_fmt([r[key] for r in found]) for key, _ in METRICS]
        ms = sum(r.get("removal_ms", float("nan")) for r in found) / len(found)
        lines.append(
            f"| {model_label} | {remover_label} | " + " | ".join(cells)
            + f" | {ms:.2f} | {_setting(found)} |"
        )  # fmt: skip
    budget = sorted({(r.get("train_steps"), r.get("full_steps")) for r in results.values()})
    text = "\n".join(lines)
    text += (
        f"\n\nSeeds {', '.join(map(str, seeds))}; values: mean ± half the range over the seeds "
        "(AP x 100, COCO AP@[.5:.95]); steps trained / budget: "
        + ", ".join(f"{a}/{b}" for a, b in budget)
        + f"; code version {versions[0] if versions else '-'}.\n"
    )
    text += "\n" + _gains(results, seeds) + "\n" + _per_category(results, seeds)
    text += "\n" + _timings(results, seeds, arms)
    (out / "table.md").write_text(text, encoding="utf-8")
    if doc is not None:
        doc.write_text(HEADER + text, encoding="utf-8")
    return text


HEADER = "<!-- written by packages/detector/benchmarks/headline.py; do not edit by hand -->\n\n"


def _value(results: dict, arm: str, seed: int, rows: tuple[str, ...], key: str) -> float | None:
    res = results.get((arm, seed))
    if res is None or any(r not in res["rows"] for r in rows):
        return None
    return max(res["rows"][r][key] for r in rows)


def _gains(results: dict, seeds: list[int]) -> str:
    lines = [
        "| claim | metric | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|---|" + "---:|" * (len(seeds) + 1),
    ]
    for label, (arm, row), (barm, brows) in GAINS:
        for key, name in (("AP", "mAP"), ("context_AP", "context AP"), ("crowd_AP", "crowd AP")):
            deltas = []
            cells = []
            for s in seeds:
                a = _value(results, arm, s, (row,), key)
                b = _value(results, barm, s, brows, key)
                if a is None or b is None:
                    cells.append("-")
                    continue
                deltas.append(100 * (a - b))
                cells.append(f"{100 * (a - b):+.1f}")
            if deltas:
                lines.append(
                    f"| {label} | {name} | " + " | ".join(cells) + f" | {np.mean(deltas):+.1f} |"
                )
    return "Gains (AP points, per seed; the baseline at its best setting on val):\n\n" + "\n".join(
        lines
    )


def _per_category(results: dict, seeds: list[int]) -> str:
    any_res = next(iter(results.values()), None)
    if any_res is None:
        return ""
    first_row = next(iter(any_res["rows"].values()))
    cats = list(first_row["per_category"])
    names = any_res.get("category_names", {})
    header = " | ".join(names.get(c, c) for c in cats)
    lines = [
        f"| model | remover | {header} |",
        "|---|---|" + "---:|" * len(cats),
    ]
    for arm, row, model_label, remover_label in ROWS:
        found = [results[(arm, s)]["rows"].get(row) for s in seeds if (arm, s) in results]
        found = [r for r in found if r is not None]
        if not found:
            continue
        cells = [_fmt([r["per_category"][c] for r in found]) for c in cats]
        lines.append(
            f"| {model_label} | {remover_label.split(' (')[0]} | " + " | ".join(cells) + " |"
        )
    kinds = any_res.get("category_kinds", {})
    note = ", ".join(f"{names.get(c, c)} ({kinds.get(c, '?')})" for c in cats)
    return (
        "Per-category AP (mean ± half-range over seeds): " + note + "\n\n" + "\n".join(lines) + "\n"
    )


def _timings(results: dict, seeds: list[int], arms: list[str]) -> str:
    lines = [
        "| arm | seed | steps | training wall (s) | img/s (train) | evaluation wall (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for arm in arms:
        for s in seeds:
            res = results.get((arm, s))
            if res is None:
                continue
            tr = res["train"]
            epochs = [h for h in res.get("history", []) if h.get("kind") == "epoch"]
            ips = np.mean([h["images_per_s"] for h in epochs]) if epochs else float("nan")
            lines.append(
                f"| {arm} | {s} | {tr.get('steps')} | {tr['train_wall_s']:.0f} | {ips:.1f} | "
                f"{res['timing']['eval_wall_s']:.0f} |"
            )
    return "Wall-clock per arm (fits of the learned removers included in the evaluation):\n\n" + (
        "\n".join(lines) + "\n"
    )
