"""Atomic outputs, run folders, and the curves drawn from a metrics log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from relnet_cli.errors import CliError
from relnet_cli.files import require_file, require_writable_parent
from relnet_cli.render.watch import CurveWatcher, charts, draw_run_curves, read_records
from relnet_cli.runs import find_checkpoint, read_run_info, trained_on, write_run_info
from relnet_core.files import atomic_path, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")

    def write_half() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_half()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_write_json_replaces_and_respects_the_umask(tmp_path: Path) -> None:
    target = write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    assert target.stat().st_mode & 0o044  # readable by others under the usual umask 022


def test_input_checks_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="does not exist"):
        require_file(tmp_path / "x", "detections file")
    with pytest.raises(CliError, match="is a directory"):
        require_file(tmp_path, "detections file")
    with pytest.raises(CliError, match=r"folder .* does not exist"):
        require_writable_parent(tmp_path / "a" / "b.json", "output")


def test_run_folders(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"holds no checkpoint\.pt"):
        find_checkpoint(tmp_path)
    with pytest.raises(CliError, match="does not exist"):
        find_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert find_checkpoint(tmp_path) == tmp_path / "checkpoint.pt"
    assert read_run_info(tmp_path) == {}
    write_run_info(tmp_path, data=Path("data/x"), preset="tiny")
    assert trained_on(tmp_path / "checkpoint.pt") == (Path.cwd() / "data/x")


RECORDS = [
    {"kind": "step", "epoch": 1, "step": 1, "lr": 0.1, "loss": 3.0, "loss_classifier": 2.0},
    {"kind": "step", "epoch": 1, "step": 2, "lr": 0.1, "loss": 2.5, "loss_classifier": 1.5},
    {"kind": "epoch", "epoch": 1, "step": 2, "loss": 2.7, "images_per_s": 3.0},
]


def test_charts_from_a_metrics_log() -> None:
    loss, per_epoch = charts(RECORDS)
    assert [line.name for line in loss.lines] == ["loss", "loss_classifier"]
    assert loss.lines[0].x == [1.0, 2.0]
    assert per_epoch.title == "mean loss per epoch"
    with_map = charts([*RECORDS, {"kind": "epoch", "epoch": 2, "step": 4, "mAP": 0.3}])[1]
    assert with_map.title == "validation mAP"
    assert with_map.lines[0].y == [0.3]


def test_curves_png(tmp_path: Path) -> None:
    assert draw_run_curves(tmp_path) is None
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in RECORDS) + '{"kind": "st')
    assert len(read_records(metrics)) == 3  # the line being written is skipped
    png = draw_run_curves(tmp_path)
    assert png is not None
    with Image.open(png) as image:
        assert image.size == (920, 300)
    metrics.write_text("")
    draw_run_curves(tmp_path)  # an empty log draws empty charts


def test_curve_watcher_redraws_while_training(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    with CurveWatcher(tmp_path, interval=0.05):
        metrics.write_text(json.dumps(RECORDS[0]) + "\n")
        deadline = time.monotonic() + 10
        while not (tmp_path / "curves.png").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "curves.png").exists()
        (tmp_path / "curves.png").unlink()
    assert (tmp_path / "curves.png").exists()  # drawn once more at the end
