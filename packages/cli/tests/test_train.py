"""``relnet train``'s errors and defaults (the training itself: test_end_to_end.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_usage_error, assert_user_error, invoke
from typer.testing import CliRunner

from relnet_cli.commands import train as train_command
from relnet_cli.errors import CliError


def test_missing_data_folder(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "coco"
    assert_user_error(invoke(runner, "train", "--data", missing), str(missing), "does not exist")


def test_data_folder_without_annotations(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(runner, "train", "--data", tmp_path, "--out", out, "--device", "cpu")
    assert_user_error(result, "instances_train.json")
    assert not (out / "checkpoint.pt").exists()


def test_unknown_preset(runner: CliRunner, tmp_path: Path) -> None:
    assert_user_error(invoke(runner, "train", "--preset", "huge", "--data", tmp_path), "'huge'")


def test_bad_toml(runner: CliRunner, tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text("[train]\nepochz = 3\n")
    result = invoke(runner, "train", "--preset", toml, "--data", tmp_path)
    assert_user_error(result, str(toml), "epochz")
    toml.write_text("not = toml = at all")
    assert_user_error(invoke(runner, "train", "--preset", toml, "--data", tmp_path), str(toml))
    missing = tmp_path / "missing.toml"
    assert_user_error(invoke(runner, "train", "--preset", missing, "--data", tmp_path), "missing")


def test_bad_values(runner: CliRunner, tmp_path: Path) -> None:
    assert_usage_error(invoke(runner, "train", "--epochs", "0"))
    assert_usage_error(invoke(runner, "train", "--epochs", "two"))
    assert_user_error(invoke(runner, "train", "--device", "tpu", "--data", tmp_path), "tpu")


def test_default_run_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert train_command._default_run_dir("tiny").parent == Path("runs")
    assert train_command._default_run_dir("cfg/my.toml").name.startswith("my-")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc")
    assert train_command._default_run_dir("tiny") == Path("runs/tiny-abc")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(CliError, match="--out"):
        train_command._default_run_dir("tiny")


def test_no_data_means_the_builtin_benchmark(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Path] = []

    def builtin() -> Path:
        used.append(tmp_path)
        return tmp_path  # an empty folder: training then fails on its missing annotations

    monkeypatch.setattr(train_command, "_builtin_data", builtin)
    result = invoke(runner, "train", "--out", tmp_path / "run", "--device", "cpu")
    assert used == [tmp_path]
    assert_user_error(result, "instances_train.json")
