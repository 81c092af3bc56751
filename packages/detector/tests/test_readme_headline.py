"""The headline, speed and paper-claim tables in the README are docs/headline.md, docs/speed.md
and docs/paper-summary.md, which headline.py, bench_speed.py and paper.py write, verbatim (no
number in the README is typed by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["headline.md", "speed.md", "paper-summary.md"])
def test_the_readme_quotes_the_generated_tables(name: str) -> None:
    readme, doc = PACKAGE / "README.md", PACKAGE / "docs" / name
    if not (readme.is_file() and doc.is_file()):
        pytest.skip("not a source checkout (the README and docs are not installed)")
    begin, end = f"<!-- {name} begins -->", f"<!-- {name} ends -->"
    text = readme.read_text(encoding="utf-8")
    assert begin in text
    assert end in text
    quoted = text.split(begin, 1)[1].split(end, 1)[0].strip()
    written = doc.read_text(encoding="utf-8").split("-->", 1)[1].strip()
    assert quoted == written
