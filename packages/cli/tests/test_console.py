"""Tables on stdout: a pipe or a file gets the whole table, not one cut to 80 columns."""

from __future__ import annotations

import pytest

from relnet_cli.console import coco_table, stdout


def test_a_piped_table_keeps_every_column(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    stats = [0.612, 0.81, 0.7, 0.3, 0.6, 0.7, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    table = coco_table(
        "val",
        [("soft-nms-0.5 (sigma 0.5)", stats), ("learned-with-a-long-name", stats)],
        timings=[(41.25, 3.5), (41.25, 12.75)],
    )
    stdout().print(table)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "remover" in line)
    assert "network ms/img" in header
    assert "removal ms/img" in header
    assert any("soft-nms-0.5 (sigma 0.5)" in line and "61.2" in line for line in out.splitlines())
    assert "…" not in out  # nothing elided


def test_columns_set_by_the_user_win(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert stdout().width == 60
