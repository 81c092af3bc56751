"""Shared fixtures: a CliRunner and helpers that check the one-line error contract."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from relnet_cli.main import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: object) -> Result:
    """Run ``relnet ARGS`` in-process."""
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result: Result, *fragments: str) -> str:
    """Exit code 1, one line ``error: ...`` on stderr naming every fragment, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.output
    return lines[0]


def assert_usage_error(result: Result) -> None:
    """Click's usage error: exit code 2, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
