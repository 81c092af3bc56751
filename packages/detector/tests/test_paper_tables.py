"""docs/paper-tables.md is written by benchmarks/paper.py (never by hand) and holds the paper's
four tables."""

from __future__ import annotations

from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "paper-tables.md"


def test_the_paper_tables_are_generated_and_complete() -> None:
    if not DOC.is_file():
        pytest.skip("not a source checkout (the docs are not installed)")
    text = DOC.read_text(encoding="utf-8")
    assert text.startswith("<!-- written by packages/detector/benchmarks/paper.py")
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Table 4"):
        assert heading in text
    for image in ("paper-ap-vs-nr.png", "paper-ap-vs-iou.png"):
        assert f"]({image})" in text
        assert (DOC.parent / image).is_file()
