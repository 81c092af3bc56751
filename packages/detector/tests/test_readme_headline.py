"""The headline tables in the README are docs/headline.md, which headline.py writes, verbatim
(no number in the README is typed by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- headline.md begins -->", "<!-- headline.md ends -->"


def test_the_readme_quotes_the_generated_tables() -> None:
    readme, doc = PACKAGE / "README.md", PACKAGE / "docs" / "headline.md"
    if not (readme.is_file() and doc.is_file()):
        pytest.skip("not a source checkout (the README and docs are not installed)")
    text = readme.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    quoted = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    written = doc.read_text(encoding="utf-8").split("-->", 1)[1].strip()
    assert quoted == written
