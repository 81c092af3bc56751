"""benchmarks/paper.py's tables and claim sentences come from the numbers (no run needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCHMARKS / "_paper_table.py").is_file():
    pytest.skip("not a source checkout (the benchmarks are not installed)", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))

from _paper_table import Results, _claim, _table  # noqa: E402

KEYS = ("AP", "AP50", "AP75", "context_AP", "plain_AP", "crowd_AP")


def _row(ap: float) -> dict[str, float]:
    return dict.fromkeys(KEYS, ap)


def _results(a: list[float], b: list[float]) -> Results:
    evals = {("rm", s): {"rows": {"nms": _row(v)}} for s, v in enumerate(a)}
    evals |= {("2fc", s): {"rows": {"nms": _row(v)}} for s, v in enumerate(b)}
    return Results([0, 1], evals, {}, {}, {})


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        ([0.6, 0.5], [0.5, 0.4], "**holds**"),
        ([0.4, 0.3], [0.5, 0.4], "**does not hold**"),
        ([0.6, 0.35], [0.5, 0.4], "**mixed over the seeds**"),  # +10 and -5: mean +2.5
        ([0.6, 0.3], [0.5, 0.4], "**a tie (mean difference under 0.5)**"),  # +10 and -10
        ([0.503, 0.504], [0.5, 0.5], "**a tie (mean difference under 0.5)**"),  # +0.3, +0.4
        ([0.6], [0.5], "**holds (one seed)**"),
    ],
)
def test_a_claim_is_judged_from_the_per_seed_differences(
    a: list[float], b: list[float], verdict: str
) -> None:
    res = _results(a, b)
    text = _claim(res, "rm beats 2fc", ("rm", "nms"), ("2fc", "nms"), "1 vs 0")
    assert verdict in text
    assert f"seed 0: {100 * a[0]:.1f} vs {100 * b[0]:.1f}" in text
    mean = np.mean([100 * x - 100 * y for x, y in zip(a, b, strict=True)])  # as the tables do
    assert f"mAP {mean:+.1f}" in text
    assert res.claims[-1][:3] == ("rm beats 2fc", "1 vs 0", verdict.strip("*"))


def test_a_claim_compares_the_common_seeds_and_says_so() -> None:
    res = _results([0.6, 0.2], [0.5])  # rm's seed 1 has no 2fc to compare with
    text = _claim(res, "rm beats 2fc", ("rm", "nms"), ("2fc", "nms"), "1 vs 0")
    assert "**holds (one seed)**" in text
    assert "mAP +10.0 (seed 0: 60.0 vs 50.0)" in text
    assert "rm also has seed 1" in text


def test_a_claim_without_results_says_so() -> None:
    text = _claim(_results([], []), "rm beats 2fc", ("rm", "nms"), ("2fc", "nms"), "1 vs 0")
    assert "**not measured yet**" in text


def test_the_table_gives_mean_and_half_range_and_lists_what_is_missing() -> None:
    res = _results([0.6, 0.5], [])
    text, missing = _table(res, [("2fc+RM", ("rm", "nms")), ("2fc", ("2fc", "nms"))])
    assert "| 2fc+RM | 55.0 ± 5.0 |" in text
    assert missing == ["2fc"]
