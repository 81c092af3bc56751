"""The root command: --version, --help with an example on every command, --debug, usage errors."""

from __future__ import annotations

import pytest
from conftest import assert_usage_error, invoke
from typer.testing import CliRunner

from relnet_cli import __version__
from relnet_cli.errors import CliError, one_line
from relnet_cli.main import app
from relnet_cli.versions import RELNET

COMMANDS = [
    ["data", "synth"],
    ["train"],
    ["eval"],
    ["predict"],
    ["explain"],
    ["dedup", "fit"],
    ["dedup", "apply"],
    ["bench"],
]


def test_version_lists_every_package(runner: CliRunner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    for name in RELNET:
        assert name in result.stdout
    assert f"relnet-cli        {__version__}" in result.stdout
    assert "torch" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(runner: CliRunner, command: list[str]) -> None:
    result = invoke(runner, *command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    assert f"relnet {' '.join(command)}" in result.stdout


def test_root_help_lists_the_commands(runner: CliRunner) -> None:
    result = invoke(runner, "-h")
    assert result.exit_code == 0
    for name in ("data", "train", "eval", "predict", "explain", "dedup", "bench"):
        assert name in result.stdout


def test_unknown_command_and_option_are_usage_errors(runner: CliRunner) -> None:
    assert_usage_error(invoke(runner, "frobnicate"))
    assert_usage_error(invoke(runner, "bench", "--no-such-option"))
    assert_usage_error(invoke(runner, "dedup", "fit", "--epochs", "many"))


def test_debug_shows_the_exception(runner: CliRunner, tmp_path: object) -> None:
    result = invoke(runner, "--debug", "bench", "--repo", f"{tmp_path}/missing")
    assert result.exit_code == 1
    assert isinstance(result.exception, CliError)
    assert "error:" not in result.stderr


def test_one_line_messages() -> None:
    err = FileNotFoundError(2, "No such file or directory", "runs/x/checkpoint.pt")
    assert one_line(err) == "runs/x/checkpoint.pt: No such file or directory"
    assert one_line(ValueError("bad\n  value\n")) == "bad value"
    assert one_line(ValueError()) == "ValueError"
    assert one_line(OSError(18, "Invalid cross-device link", "a", None, "b")) == (
        "a -> b: Invalid cross-device link"
    )


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "relnet_cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "relnet-cli" in done.stdout
    assert app.info.name == "relnet"


def test_help_imports_no_heavy_library() -> None:
    import subprocess
    import sys

    script = """
import sys
from typer.testing import CliRunner
from relnet_cli.main import app
for command in (["--help"], ["train", "--help"], ["dedup", "apply", "--help"]):
    assert CliRunner().invoke(app, command).exit_code == 0
heavy = ("torch", "torchvision", "relnet_detector", "relnet_dedup", "PIL")
print(sorted({m.split(".")[0] for m in sys.modules} & set(heavy)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
