"""``relnet data synth``: the built-in benchmark as a COCO folder."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import assert_usage_error, assert_user_error, invoke
from PIL import Image
from typer.testing import CliRunner


def test_synth_writes_a_coco_folder_and_a_preview(runner: CliRunner, tmp_path: Path) -> None:
    out, preview = tmp_path / "synth", tmp_path / "preview.png"
    args = ["--out", out, "--train", "2", "--val", "2", "--workers", "1", "--preview", preview]
    result = invoke(runner, "data", "synth", *args)
    assert result.exit_code == 0, result.output
    train = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert len(train["images"]) == 2
    assert (out / "images" / train["images"][0]["file_name"]).is_file()
    with Image.open(preview) as image:
        image.load()
    # A second run refuses to overwrite; --overwrite replaces it.
    again = invoke(runner, "data", "synth", "--out", out, "--train", "1", "--val", "1")
    assert_user_error(again, str(out), "--overwrite")
    args = ["--out", out, "--train", "1", "--val", "1", "--workers", "1", "--overwrite"]
    assert invoke(runner, "data", "synth", *args).exit_code == 0
    assert (
        len(json.loads((out / "annotations" / "instances_train.json").read_text())["images"]) == 1
    )


def test_synth_errors(runner: CliRunner, tmp_path: Path) -> None:
    assert_usage_error(invoke(runner, "data", "synth", "--out", tmp_path, "--train", "-1"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_user_error(invoke(runner, "data", "synth", "--out", a_file), str(a_file), "not a folder")
    preview = tmp_path / "no" / "p.png"
    args = ["--out", tmp_path / "d", "--preview", preview]
    assert_user_error(invoke(runner, "data", "synth", *args), str(preview))
    assert not (tmp_path / "d").exists()
