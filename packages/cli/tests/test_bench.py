"""``relnet bench`` finds the benchmark scripts of a checkout and runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_usage_error, assert_user_error, invoke
from typer.testing import CliRunner

from relnet_cli.commands.bench import SCRIPTS, find_repo


def fake_repo(root: Path, names: tuple[str, ...] = ("attention", "dedup", "detector")) -> Path:
    for name in names:
        script = root / SCRIPTS[name]
        script.parent.mkdir(parents=True)
        script.write_text(
            "import os, sys\n"
            f"print('table of {name}', os.environ.get('OMP_NUM_THREADS'), sys.argv[1:])\n"
            f"raise SystemExit({3 if name == 'detector' else 0} if os.environ.get('FAIL') else 0)\n"
        )
    return root


def test_runs_every_script(runner: CliRunner, tmp_path: Path) -> None:
    repo = fake_repo(tmp_path)
    result = invoke(runner, "bench", "--repo", repo, "--threads", "2")
    assert result.exit_code == 0, result.output
    for name in SCRIPTS:
        assert f"table of {name} 2 ['--threads', '2']" in result.stdout


def test_only_some(runner: CliRunner, tmp_path: Path) -> None:
    repo = fake_repo(tmp_path)
    result = invoke(runner, "bench", "--repo", repo, "--only", "dedup")
    assert result.exit_code == 0, result.output
    assert "table of dedup" in result.stdout
    assert "table of attention" not in result.stdout


def test_finds_the_checkout_above_the_current_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = fake_repo(tmp_path / "clone", ("dedup",))
    (repo / "packages" / "dedup" / "src").mkdir()
    monkeypatch.chdir(repo / "packages" / "dedup" / "src")
    assert find_repo(Path.cwd()) == repo
    result = invoke(runner, "bench", "--only", "dedup")
    assert result.exit_code == 0, result.output
    assert "table of dedup" in result.stdout


def test_a_missing_script_is_skipped_and_said(runner: CliRunner, tmp_path: Path) -> None:
    repo = fake_repo(tmp_path, ("attention",))
    result = invoke(runner, "bench", "--repo", repo)
    assert result.exit_code == 0, result.output
    assert "skipped dedup" in result.stderr
    assert "table of attention" in result.stdout


def test_no_checkout(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_user_error(invoke(runner, "bench"), "--repo", str(tmp_path))
    assert_user_error(invoke(runner, "bench", "--repo", tmp_path), str(tmp_path))
    assert_user_error(invoke(runner, "bench", "--repo", tmp_path / "x"), str(tmp_path / "x"))


def test_a_failing_script_fails_the_command(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = fake_repo(tmp_path)
    monkeypatch.setenv("FAIL", "1")
    result = invoke(runner, "bench", "--repo", repo)
    assert_user_error(result, "bench_speed.py (detector)", "code 3")
    assert "table of attention" in result.stdout


def test_unknown_benchmark_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    assert_usage_error(invoke(runner, "bench", "--repo", tmp_path, "--only", "heads"))
