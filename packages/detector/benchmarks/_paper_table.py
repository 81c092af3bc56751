"""The markdown tables and the plots of ``paper.py``, from the cached evaluations only.

Every number and every sentence about a claim is generated here from the run folders'
``eval.json`` / ``ablations.json``; an arm not evaluated yet is listed as missing under its
table. Values: AP x 100, mean ± half the range over the seeds found.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _headline_setup import read_json, run_dir
from _headline_table import METRICS as HEADLINE_METRICS
from _headline_table import _fmt, _setting
from _paper_arms import ABLATIONS, ARMS, paper_config
from _paper_eval import IOUS

from relnet_heads import build_head
from relnet_heads.base import count_parameters

METRICS = HEADLINE_METRICS[:6]  # mAP, mAP50, mAP75, context AP, plain AP, crowd-scene AP
HEADER = "<!-- written by packages/detector/benchmarks/paper.py; do not edit by hand -->\n\n"
ROIS = 100  # the tiny preset's test-time proposals per image: the RoI set of the FLOP count
PLOT_NR = "paper-ap-vs-nr.png"
PLOT_IOU = "paper-ap-vs-iou.png"

# a cell: (arm, remover row); rows of "rm-t3" come from rm's ablations.json
Cell = tuple[str, str]


@dataclass
class Results:
    """The cached evaluations: ``evals[(arm, seed)]`` (eval.json), ``ablations[seed]``
    (rm's ablations.json), ``timings`` and ``origins`` of the run folders."""

    seeds: list[int]
    evals: dict[tuple[str, int], Any]
    ablations: dict[int, Any]
    timings: dict[tuple[str, int], Any]
    origins: dict[tuple[str, int], Any]
    # every claim generated so far: (text, paper, verdict, mean difference of its first metric)
    claims: list[tuple[str, str, str, str]] = field(default_factory=list)

    def rows(self, cell: Cell) -> dict[int, dict[str, Any]]:
        """Seed -> the row of ``cell`` for every seed that has it."""
        arm, row = cell
        found = {}
        for seed in self.seeds:
            res = self.ablations.get(seed) if arm == "rm-t3" else self.evals.get((arm, seed))
            if res is not None and row in res["rows"]:
                found[seed] = res["rows"][row]
        return found


def load(out: Path, seeds: list[int]) -> Results:
    evals: dict[tuple[str, int], Any] = {}
    timings: dict[tuple[str, int], Any] = {}
    origins: dict[tuple[str, int], Any] = {}
    ablations: dict[int, Any] = {}
    for arm in ARMS:
        for seed in seeds:
            folder = run_dir(out, arm, seed)
            for name, into in (("eval.json", evals), ("timing.json", timings),
                               ("origin.json", origins)):  # fmt: skip
                if (folder / name).is_file():
                    into[(arm, seed)] = read_json(folder / name)
            log = folder / "metrics.jsonl"
            if (arm, seed) not in timings and log.is_file():  # training its first piece
                lines = log.read_text(encoding="utf-8").splitlines()
                last = json.loads(lines[-1]) if lines else {}
                timings[(arm, seed)] = {"steps": last.get("step", 0), "running": True}
            if arm == "rm" and (folder / "ablations.json").is_file():
                ablations[seed] = read_json(folder / "ablations.json")
    return Results(seeds, evals, ablations, timings, origins)


def _cells(res: Results, cell: Cell) -> list[str]:
    rows = list(res.rows(cell).values())
    return [_fmt([r[key] for r in rows]) for key, _ in METRICS]


def _table(
    res: Results, lines: Sequence[tuple[str, Cell]], extra: dict[str, list[str]] | None = None
) -> tuple[str, list[str]]:
    """A markdown table of ``lines`` (label, cell) with the metrics, the seeds found and any
    ``extra`` columns (name -> one value per line); and the lines with no result yet."""
    extra = extra or {}
    head = ["setting", *(label for _, label in METRICS), "seeds", *extra]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    missing = []
    for i, (label, cell) in enumerate(lines):
        found = res.rows(cell)
        if not found:
            missing.append(label)
        seeds = ", ".join(map(str, found)) or "-"
        setting = _setting(list(found.values()))
        shown = f"{label} ({setting})" if setting else label
        values = [*_cells(res, cell), seeds, *(col[i] for col in extra.values())]
        out.append(f"| {shown} | " + " | ".join(values) + " |")
    return "\n".join(out), missing


def _deltas(res: Results, a: Cell, b: Cell, key: str) -> dict[int, tuple[float, float]]:
    """Seed -> (100 a, 100 b) of metric ``key``, for the seeds both cells have."""
    ra, rb = res.rows(a), res.rows(b)
    return {s: (100 * ra[s][key], 100 * rb[s][key]) for s in ra if s in rb}


TIE = 0.5  # AP points: a mean difference under this is a tie here, whatever its sign


def verdict(differences: Sequence[float]) -> str:
    """Whether ``a`` beats ``b`` from the per-seed differences ``a - b`` (AP points): a tie
    where the mean is under ``TIE``; else holds / does not hold where every seed agrees with
    the mean's sign, mixed where they do not; "(one seed)" where there is one."""
    mean = float(np.mean(differences))
    one = " (one seed)" if len(differences) == 1 else ""
    if abs(mean) < TIE:
        return f"a tie{one} (mean difference under {TIE})"
    if all(v > 0 for v in differences):
        return f"holds{one}"
    if all(v < 0 for v in differences):
        return f"does not hold{one}"
    return "mixed over the seeds"


def _claim(
    res: Results, text: str, a: Cell, b: Cell, paper: str, keys: Sequence[str] = ("AP",)
) -> str:
    """One generated sentence: :func:`verdict` on ``keys[0]`` over the seeds both cells have,
    with each seed's values and difference for every key, and the seeds a cell has alone."""
    names = dict(METRICS)
    parts, result, first = [], "not measured yet", "-"
    for k, key in enumerate(keys):
        d = _deltas(res, a, b, key)
        if not d:
            continue
        differences = [va - vb for va, vb in d.values()]
        per_seed = "; ".join(f"seed {s}: {va:.1f} vs {vb:.1f}" for s, (va, vb) in d.items())
        parts.append(f"{names.get(key, key)} {np.mean(differences):+.1f} ({per_seed})")
        if k == 0:
            result = verdict(differences)
            first = f"{names.get(key, key)} {np.mean(differences):+.1f}"
    seeds_a, seeds_b = set(res.rows(a)), set(res.rows(b))
    alone = [
        f"{cell[0]} also has seed {', '.join(map(str, sorted(extra)))}"
        for cell, extra in ((a, seeds_a - seeds_b), (b, seeds_b - seeds_a))
        if extra
    ]
    if parts and alone:  # the table's mean holds more seeds than the comparison
        parts.append(
            f"on the common seeds only, where the table's mean has more: {'; '.join(alone)}"
        )
    numbers = "; ".join(parts) if parts else "no result yet"
    res.claims.append((text, paper, result, first))
    return f"- {text} (paper: {paper}): **{result}** here: {numbers}."


def summary(res: Results) -> str:
    """One row per claim generated by the tables (call after them): the README's quote."""
    lines = ["| claim | paper | here | mean difference |", "|---|---|---|---:|"]
    for text, paper, result, first in res.claims:
        lines.append(f"| {text} | {paper} | {result} | {first} |")
    return "\n".join(lines) + "\n"


def _mean(res: Results, cell: Cell, key: str = "AP") -> float | None:
    rows = res.rows(cell)
    return float(np.mean([100 * r[key] for r in rows.values()])) if rows else None


def _missing(missing: list[str]) -> str:
    return f"\nNot evaluated yet: {'; '.join(missing)}.\n" if missing else ""


NMS = "nms"  # Tables 1 and 2: every head with NMS at its best Nt on val (the paper's Table 1)


def table1(res: Results) -> str:
    parts = [
        "## Table 1: relation module structure (§5.1)\n",
        "Every head trained with NMS and evaluated with NMS at its best Nt on val; 2fc+RM "
        "{1, 1}, N_r 16, pairwise geometry is the default (`rm`).\n",
    ]
    missing: list[str] = []
    for title, lines in (
        ("(a) geometric feature", [("none", ("geo-none", NMS)), ("unary", ("geo-unary", NMS)),
                                   ("pairwise (default)", ("rm", NMS))]),
        ("(b) number of relations N_r", [(f"N_r {n}", (f"nr{n}", NMS)) for n in (1, 4, 8)]
         + [("N_r 16 (default)", ("rm", NMS))]),
        ("(c) relation modules {r1, r2}", [("{0, 0} (2fc)", ("2fc", NMS)),
                                           ("{1, 0}", ("m10", NMS)), ("{0, 1}", ("m01", NMS)),
                                           ("{1, 1} (default)", ("rm", NMS)),
                                           ("{2, 2}", ("m22", NMS))]),
    ):  # fmt: skip
        text, miss = _table(res, lines)
        parts.append(f"### {title}\n\n{text}\n")
        missing += miss
    parts.append(_missing(missing))
    by_nr = {n: res.rows((f"nr{n}" if n < 16 else "rm", NMS)) for n in (1, 4, 8, 16)}
    common = sorted(set.intersection(*(set(rows) for rows in by_nr.values())))
    steady, shown = "not measured yet", ""
    if common:  # on the seeds all four have
        values = [float(np.mean([100 * by_nr[n][s]["AP"] for s in common])) for n in by_nr]
        rising = all(b > a for a, b in itertools.pairwise(values))
        steady = "holds" if rising else "does not hold"
        if len(common) == 1:
            steady += " (one seed)"
        shown = ", ".join(f"N_r {n} {v:.1f}" for n, v in zip(by_nr, values, strict=True))
        shown += f" (seeds {', '.join(map(str, common))})"
    else:
        shown = ", ".join(
            f"N_r {n} {_mean(res, (f'nr{n}' if n < 16 else 'rm', NMS)):.1f}"
            for n, rows in by_nr.items()
            if rows
        )
    res.claims.append(("mAP rises with every step of N_r 1, 4, 8, 16", "30.5, 31.3, 31.7, 31.9",
                       steady, shown.split(" (seeds")[0] or "-"))  # fmt: skip
    claims = [
        _claim(res, "pairwise geometry beats no geometry", ("rm", NMS), ("geo-none", NMS),
               "31.9 vs 30.3", ("AP", "context_AP")),
        _claim(res, "pairwise geometry beats unary geometry", ("rm", NMS), ("geo-unary", NMS),
               "31.9 vs 31.1", ("AP", "context_AP")),
        _claim(res, "relation modules without geometry still beat 2fc", ("geo-none", NMS),
               ("2fc", NMS), "30.3 vs 29.6", ("AP", "context_AP")),
        _claim(res, "N_r 16 beats N_r 1", ("rm", NMS), ("nr1", NMS), "31.9 vs 30.5, +1.4",
               ("AP", "context_AP")),
        "- mAP rises with every step of N_r 1, 4, 8, 16 (paper: 30.5, 31.3, 31.7, 31.9): "
        f"**{steady}** here: " + (shown or "no result yet") + ".",
        _claim(res, "{1, 1} beats 2fc", ("rm", NMS), ("2fc", NMS), "31.9 vs 29.6",
               ("AP", "context_AP", "plain_AP")),
        _claim(res, "{1, 0} beats 2fc", ("m10", NMS), ("2fc", NMS), "31.7 vs 29.6",
               ("AP", "context_AP")),
        _claim(res, "{0, 1} beats 2fc", ("m01", NMS), ("2fc", NMS), "31.4 vs 29.6",
               ("AP", "context_AP")),
        _claim(res, "{2, 2} beats {1, 1}", ("m22", NMS), ("rm", NMS), "32.5 vs 31.9",
               ("AP", "context_AP")),
    ]  # fmt: skip
    parts.append("Claims:\n\n" + "\n".join(claims) + "\n")
    return "\n".join(parts)


@functools.cache
def head_cost(arm: str) -> tuple[int, float]:
    """The head's trainable parameters and its FLOPs per RoI: ``FlopCounterMode`` over one
    forward of ``ROIS`` RoIs of one image (random features and boxes, fixed seed)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = paper_config(arm, 0).model
    channels, size = model.backbone.fpn_channels, model.roi.pool_size
    head = build_head(model.head, channels, size).eval()
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(1, ROIS, channels, size, size, generator=gen)
    xy = torch.rand(1, ROIS, 2, generator=gen) * 120
    wh = 8 + torch.rand(1, ROIS, 2, generator=gen) * 40
    boxes = torch.cat([xy, xy + wh], dim=-1)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        head(features, boxes)
    return count_parameters(head), counter.get_total_flops() / ROIS


TABLE2 = (
    ("2fc", "2fc"), ("2fc (wider)", "2fc-wide"), ("3fc", "3fc"), ("2fc+res {1, 1}", "res11"),
    ("2fc+RM {1, 1}", "rm"), ("2fc+res {2, 2}", "res22"), ("2fc+RM {2, 2}", "m22"),
)  # fmt: skip


def table2(res: Results) -> str:
    costs = {arm: head_cost(arm) for _, arm in TABLE2}
    extra = {
        "head width": [str(paper_config(arm, 0).model.head.hidden_dim) for _, arm in TABLE2],
        "head params": [f"{costs[arm][0] / 1e6:.3f}M" for _, arm in TABLE2],
        "FLOPs / RoI": [f"{costs[arm][1] / 1e6:.2f}M" for _, arm in TABLE2],
    }
    text, missing = _table(res, [(label, (arm, NMS)) for label, arm in TABLE2], extra)
    claims = [
        _claim(res, "2fc+RM {1, 1} beats the wider 2fc of as many parameters", ("rm", NMS),
               ("2fc-wide", NMS), "31.9 vs 29.7", ("AP", "context_AP")),
        _claim(res, "2fc+RM {1, 1} beats 3fc", ("rm", NMS), ("3fc", NMS), "31.9 vs 29.0",
               ("AP", "context_AP")),
        _claim(res, "2fc+RM {1, 1} beats 2fc+res {1, 1}", ("rm", NMS), ("res11", NMS),
               "31.9 vs 29.9", ("AP", "context_AP")),
        _claim(res, "2fc+RM {2, 2} beats 2fc+res {2, 2}", ("m22", NMS), ("res22", NMS),
               "32.5 vs 29.8", ("AP", "context_AP")),
        _claim(res, "the wider 2fc barely beats 2fc", ("2fc-wide", NMS), ("2fc", NMS),
               "29.7 vs 29.6, +0.1"),
        _claim(res, "3fc is worse than 2fc (read: 2fc beats 3fc)", ("2fc", NMS), ("3fc", NMS),
               "29.6 vs 29.0"),
    ]  # fmt: skip
    return (
        "## Table 2: heads of similar complexity\n\n"
        "Every head trained and evaluated with NMS (best Nt on val), two seeds each. "
        "Parameters: the head's (the fc layers and its relation "
        "modules or residual blocks; the predictor and the backbone are the same for all). "
        f"FLOPs per RoI: `torch.utils.flop_counter.FlopCounterMode` over one head forward of "
        f"{ROIS} RoIs of one image (the test-time proposal count), divided by {ROIS}; it counts "
        "the matrix products (2 FLOPs per multiply-add), not the element-wise sines, cosines, "
        "softmax and ReLU. The wider 2fc's width is the smallest multiple of 8 with at least "
        "2fc+RM {1, 1}'s parameters.\n\n"
        f"{text}\n{_missing(missing)}\nClaims:\n\n" + "\n".join(claims) + "\n"
    )


def table3(res: Results) -> str:
    lines = [
        ("NMS (best Nt on val)", ("rm", "nms")),
        ("Soft-NMS (best sigma on val)", ("rm", "soft-nms")),
        ("learned: rank, appearance, geometry, eta {0.5 .. 0.9} (full)", ("rm", "learned")),
        ("learned, rank feature none", ("rm-t3", "no-rank")),
        ("learned, s0 instead of the rank", ("rm-t3", "score-rank")),
        ("learned, appearance feature none", ("rm", "learned-boxes")),
        ("learned, geometry none", ("rm-t3", "no-geometry")),
        ("learned, geometry unary", ("rm-t3", "unary-geometry")),
        ("learned, eta {0.5}", ("rm-t3", "eta50")),
        ("learned, eta {0.75}", ("rm-t3", "eta75")),
    ]
    text, missing = _table(res, lines)
    full = ("rm", "learned")
    claims = [
        _claim(res, "the learned remover beats NMS on the same network", full, ("rm", "nms"),
               "30.5 vs 29.6 (Table 4)", ("AP", "AP75", "crowd_AP")),
        _claim(res, "the learned remover beats Soft-NMS on the same network", full,
               ("rm", "soft-nms"), "30.5 vs 30.2 (Table 4)", ("AP", "AP75", "crowd_AP")),
        _claim(res, "the rank feature helps", full, ("rm-t3", "no-rank"), "30.3 vs 26.6"),
        _claim(res, "the rank beats s0 as the score input", full, ("rm-t3", "score-rank"),
               "30.3 vs 28.3"),
        _claim(res, "the appearance feature helps", full, ("rm", "learned-boxes"),
               "30.3 vs 29.9"),
        _claim(res, "the geometric feature helps", full, ("rm-t3", "no-geometry"),
               "30.3 vs 28.1"),
        _claim(res, "pairwise geometry beats unary", full, ("rm-t3", "unary-geometry"),
               "30.3 vs 28.2"),
        _claim(res, "eta {0.5 .. 0.9} beats eta {0.5} on mAP", full, ("rm-t3", "eta50"),
               "30.5 vs 30.3 (Table 4)"),
        _claim(res, "eta {0.5 .. 0.9} beats eta {0.75} on mAP", full, ("rm-t3", "eta75"),
               "30.5 vs 30.1 (Table 4)"),
        _claim(res, "eta {0.5} beats eta {0.75} on mAP50", ("rm-t3", "eta50"),
               ("rm-t3", "eta75"), "51.9 vs 49.0", ("AP50",)),
        _claim(res, "eta {0.75} beats eta {0.5} on mAP75", ("rm-t3", "eta75"),
               ("rm-t3", "eta50"), "32.7 vs 31.5", ("AP75",)),
    ]  # fmt: skip
    ablated = ", ".join(f"`{k}` ({v.name})" for k, v in ABLATIONS.items())
    return (
        "## Table 3: inputs of the learned duplicate remover (§5.2)\n\n"
        "All rows on the same frozen 2fc+RM detector (arm `rm`, trained with NMS). The learned "
        "remover is `headline.py`'s separately trained network (§4.3: fitted on the detector's "
        "raw output over the train split, 64-d, N_r 8, the authors' ReLU before W_s, first_n "
        "100, and, not in the paper, each detection's overlap with those ranked above it as a "
        "further input, which it keeps in every ablation); each ablation changes one thing of "
        f"it: {ablated}. The appearance-free row is headline's `learned-boxes`.\n\n"
        f"{text}\n{_missing(missing)}\nClaims:\n\n" + "\n".join(claims) + "\n"
    )


def table4(res: Results) -> str:
    lines = [
        ("2fc+RM, NMS (best Nt on val)", ("rm", "nms")),
        ("2fc+RM, Soft-NMS (best sigma on val)", ("rm", "soft-nms")),
        ("2fc+RM, learned separately (§4.3)", ("rm", "learned")),
        ("2fc+RM, end to end (§4.4)", ("e2e", "e2e")),
        ("2fc+RM e2e network, NMS (best Nt on val)", ("e2e", "nms")),
        ("2fc+RM e2e network, Soft-NMS (best sigma on val)", ("e2e", "soft-nms")),
        ("2fc+RM, oracle", ("rm", "oracle")),
        ("2fc+RM e2e network, oracle", ("e2e", "oracle")),
        ("2fc, NMS (best Nt on val)", ("2fc", "nms")),
        ("2fc, Soft-NMS (best sigma on val)", ("2fc", "soft-nms")),
    ]
    text, missing = _table(res, lines)
    claims = [
        _claim(res, "Soft-NMS beats NMS", ("rm", "soft-nms"), ("rm", "nms"), "30.2 vs 29.6",
               ("AP", "AP75")),
        _claim(res, "learned separately beats Soft-NMS", ("rm", "learned"), ("rm", "soft-nms"),
               "30.5 vs 30.2", ("AP", "AP50", "AP75")),
        _claim(res, "end to end beats learned separately", ("e2e", "e2e"), ("rm", "learned"),
               "31.0 vs 30.5, +0.5", ("AP", "AP75", "crowd_AP")),
        _claim(res, "end to end beats its own network with Soft-NMS", ("e2e", "e2e"),
               ("e2e", "soft-nms"), "Table 5: +0.5 over 2fc+RM with Soft-NMS",
               ("AP", "crowd_AP")),
        _claim(res, "2fc+RM end to end beats 2fc with Soft-NMS", ("e2e", "e2e"),
               ("2fc", "soft-nms"), "Table 5: 32.2 -> 35.2 with ResNet-101",
               ("AP", "context_AP", "plain_AP")),
    ]  # fmt: skip
    gap = _deltas(res, ("rm", "oracle"), ("rm", "learned"), "AP")
    gap_text = (
        f"- The oracle (per ground truth its best-matching detection) is "
        f"{np.mean([a - b for a, b in gap.values()]):+.1f} mAP above the learned remover on "
        "the same network: "
        "what a better remover could still win."
        if gap
        else "- Oracle gap: not measured yet."
    )
    return (
        "## Table 4: NMS, Soft-NMS, learned separately, end to end, oracle\n\n"
        "2fc+RM detectors: `rm` trained with NMS (the removers applied afterwards to its raw "
        "output), `e2e` trained end to end with the learned remover (§4.4); 2fc for reference. "
        "NMS and Soft-NMS at their best setting on val.\n\n"
        f"{text}\n{_missing(missing)}\nClaims:\n\n" + "\n".join(claims) + "\n" + gap_text + "\n"
    )


def localisation(res: Results) -> str:
    lines = [
        ("2fc, 1x budget", ("2fc", NMS)),
        ("2fc+RM, 1x budget", ("rm", NMS)),
        ("2fc, 2x budget", ("2fc-2x", NMS)),
        ("2fc+RM, 2x budget", ("rm-2x", NMS)),
        ("2fc, 4x budget", ("2fc-4x", NMS)),
        ("2fc+RM, 4x budget", ("rm-4x", NMS)),
        ("2fc+RM, box regressor on the pre-relation feature", ("rm-prebox", NMS)),
        ("2fc+RM, W_V initialised to zero", ("rm-zero-v", NMS)),
    ]
    text, missing = _table(res, lines)
    expected = "the relation head does not hurt the classes without context"
    claims = [
        _claim(res, f"2fc+RM's plain-class AP is at least 2fc's at {k} the budget",
               (f"rm{s}", NMS), (f"2fc{s}", NMS), expected, ("plain_AP", "AP75", "AP"))
        for k, s in (("1x", ""), ("2x", "-2x"), ("4x", "-4x"))
    ] + [
        _claim(res, f"2fc+RM with {change} has at least 2fc's plain-class AP",
               (arm, NMS), ("2fc", NMS), expected, ("plain_AP", "AP75", "AP"))
        for change, arm in (("the box regressor on the pre-relation feature", "rm-prebox"),
                            ("W_V initialised to zero", "rm-zero-v"))
    ] + [
        _claim(res, f"{change} gives 2fc+RM more plain-class AP", (arm, NMS), ("rm", NMS),
               "not in the paper", ("plain_AP", "AP75", "context_AP", "AP"))
        for change, arm in (("the box regressor on the pre-relation feature", "rm-prebox"),
                            ("W_V initialised to zero", "rm-zero-v"))
    ]  # fmt: skip
    return (
        "## Plain classes and localisation\n\n"
        "On the built-in benchmark 2fc+RM wins on the context classes but has lost plain-class AP "
        "to 2fc (headline table). Whether that is a slower start or a lasting cost: both heads "
        "trained for 2x and 4x the budget (epochs and lr step scaled; one seed), NMS at its best "
        "Nt on val. Whether the relation feature costs the box regressor: 2fc+RM whose regressor "
        "reads fc2's feature before its relation modules (`HeadConfig.box_feature="
        '"pre_relation"`; the classifier still reads the relation feature). Whether the '
        "relation output's initial scale matters: every relation module's W_V initialised to zero "
        '(`RelationConfig.value_init="zero"`: the head starts as 2fc). Both not in the paper; '
        "two seeds each.\n\n"
        f"{text}\n{_missing(missing)}\nClaims (on plain AP first):\n\n"
        + "\n".join(claims).replace("(paper: the relation", "(expected: the relation")
        + "\n"
    )


def runs(res: Results) -> str:
    lines = [
        "| arm | seed | steps / budget | trained by code | copied from | evaluated by code | "
        "training wall (s) |",
        "|---|---:|---:|---|---|---|---:|",
    ]
    for arm in ARMS:
        for seed in res.seeds:
            timing = res.timings.get((arm, seed))
            if timing is None or timing.get("running"):
                continue
            ev = res.evals.get((arm, seed)) or {}
            trained = [timing.get("code_version")] + [
                p.get("code_version") for p in timing.get("pieces", [])
            ]
            trained_by = ", ".join(dict.fromkeys(str(v) for v in trained if v))
            evaluated = {str(ev.get("code_version"))} if ev else set()
            evaluated |= {str(v) for v in ev.get("row_versions", {}).values()}
            if arm == "rm" and seed in res.ablations:
                evaluated |= {str(v) for v in res.ablations[seed]["row_versions"].values()}
            origin = res.origins.get((arm, seed), {}).get("copied_from", "")
            full = ev.get("full_steps") or "?"
            status = "" if timing.get("finished") else " (training)"
            lines.append(
                f"| {arm} | {seed} | {timing.get('steps')} / {full}{status} | {trained_by} | "
                f"{origin or '-'} | {', '.join(sorted(evaluated)) or '-'} | "
                f"{timing.get('train_wall_s', 0):.0f} |"
            )
    return (
        "## Runs\n\nEvery run folder found: the code version that trained it (one per resumed "
        "piece if they differ; runs are not retrained when the code changes), where a run was "
        "copied from, and the code versions of its evaluations.\n\n" + "\n".join(lines) + "\n"
    )


def plots(res: Results, folder: Path) -> list[str]:
    """The two PNGs beside the tables; the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (("AP", "mAP"), ("context_AP", "context AP"), ("plain_AP", "plain AP")):
        xs, ys, errs = [], [], []
        for n in (1, 4, 8, 16):
            rows = list(res.rows((f"nr{n}" if n < 16 else "rm", NMS)).values())
            if rows:
                v = [100 * r[key] for r in rows]
                xs.append(n)
                ys.append(float(np.mean(v)))
                errs.append((max(v) - min(v)) / 2)
        if xs:
            line = ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
            base = _mean(res, ("2fc", NMS), key)
            if base is not None:
                ax.axhline(base, ls="--", lw=1, color=line[0].get_color())
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 4, 8, 16], ["1", "4", "8", "16"])
    ax.set_xlabel("relations N_r (dashed: 2fc)")
    ax.set_ylabel("AP (NMS, best Nt on val)")
    ax.legend(fontsize=8)
    ax.set_title("AP against N_r (2fc+RM {1, 1})", fontsize=10)
    fig.tight_layout()
    _save(fig, folder / PLOT_NR)
    written.append(PLOT_NR)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (arm, row), label, style in (
        (("2fc", "nms"), "2fc, NMS", ("C0", "-")),
        (("rm", "nms"), "2fc+RM, NMS", ("C1", "-")),
        (("2fc", "soft-nms"), "2fc, Soft-NMS", ("C0", ":")),
        (("rm", "soft-nms"), "2fc+RM, Soft-NMS", ("C1", ":")),
        (("e2e", "e2e"), "2fc+RM, end to end", ("C2", "--")),
    ):
        curves = [
            res.evals[(arm, s)]["curves"][row]
            for s in res.seeds
            if row in res.evals.get((arm, s), {}).get("curves", {})
        ]
        if curves:
            mean = 100 * np.mean(np.asarray(curves), axis=0)
            label = f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
            ax.plot(IOUS, mean, marker="o", ms=3, color=style[0], ls=style[1], label=label)
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("AP (mean over seeds)")
    ax.legend(fontsize=8)
    ax.set_title("AP against the IoU threshold", fontsize=10)
    fig.tight_layout()
    _save(fig, folder / PLOT_IOU)
    written.append(PLOT_IOU)
    plt.close(fig)
    return written


def _save(fig: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def write_tables(out: Path, seeds: list[int], doc: Path) -> str:
    """Every table from the cached evaluations under ``out``, written to ``doc`` (and
    ``out/paper-tables.md``), the plots and ``paper-summary.md`` (every claim's verdict, which
    the README quotes) beside ``doc``; returns the markdown."""
    res = load(out, seeds)
    doc.parent.mkdir(parents=True, exist_ok=True)
    pictures = plots(res, doc.parent)
    expected = [(a, s) for a in ARMS for k, s in enumerate(seeds) if k < ARMS[a].seeds]
    done = [key for key in expected if key in res.evals]
    waiting = []
    for arm, seed in expected:
        if (arm, seed) in res.evals:
            continue
        timing = res.timings.get((arm, seed))
        state = f"training, at step {timing.get('steps')}" if timing else "not started"
        waiting.append(f"{arm} seed {seed} ({state})")
    pending = f" Missing: {'; '.join(waiting)}." if waiting else ""
    text = (
        "# The paper's ablation tables on the built-in benchmark\n\n"
        "The `tiny` preset on the built-in benchmark, the main job's budget (the preset's 4 "
        "epochs) unless an arm says otherwise (the steps of every run: the Runs table); "
        "AP x 100 (COCO AP@[.5:.95]), mean ± half the "
        f"range over the seeds found (asked: {', '.join(map(str, seeds))}); context AP: the "
        "classes decided by their neighbours, plain AP: the others, crowd-scene AP: the val "
        f"images with a crowd. {len(done)} of {len(expected)} arm runs evaluated;{pending} The "
        "claims below each table are generated from its numbers: each compares two rows seed "
        "by seed (the same seed of both arms) on the seeds both have; it holds where the mean "
        f"difference is at least {TIE} AP and every seed's difference has its sign, does not "
        f"hold where every seed has the opposite sign, is a tie where the mean is under {TIE} "
        "AP, and is mixed where the seeds disagree.\n\n"
        + "\n".join((table1(res), table2(res), table3(res), table4(res), localisation(res)))
        + "\n## Plots\n\n"
        + "\n".join(f"![{name}]({name})" for name in pictures)
        + "\n\n" + runs(res)
    )  # fmt: skip
    short = (
        f"{len(done)} of {len(expected)} arm runs evaluated; seeds {', '.join(map(str, seeds))}; "
        f"the verdict rule and every number: [paper-tables.md](docs/paper-tables.md).\n\n"
        + summary(res)
    )
    for path, body in ((doc, text), (out / "paper-tables.md", text),
                       (doc.with_name("paper-summary.md"), short)):  # fmt: skip
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(HEADER + body, encoding="utf-8")
        os.replace(tmp, path)
    return text
