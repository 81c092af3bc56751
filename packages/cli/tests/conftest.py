"""Shared fixtures: a CliRunner, helpers that check the one-line error contract, and a tiny
synthetic dataset with a run trained on it (once per session: the end-to-end and the browser
tests share it)."""

from __future__ import annotations

from pathlib import Path

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


# Everything small: 96 px images, 16 RoIs per image, a 32-d head with 4 relations per module.
TINY_TOML = """
[model]
min_size = 96
max_size = 96

[model.backbone]
fpn_channels = 16
tiny_channels = [8, 16, 16, 32]

[model.rpn]
pre_nms_top_n_train = 100
pre_nms_top_n_test = 50
post_nms_top_n_train = 50
post_nms_top_n_test = 30
batch_size_per_image = 32

[model.roi]
batch_size_per_image = 16

[model.head]
hidden_dim = 32
fc1_relations = [{num_relations = 4, key_dim = 8, geo_dim = 16}]
fc2_relations = [{num_relations = 4, key_dim = 8, geo_dim = 16}]

[train]
epochs = 1
batch_size = 4
workers = 0
warmup_iters = 1
log_every = 1
checkpoint_every = 0
"""


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "synth"
    args = ["--out", out, "--train", "8", "--val", "4", "--workers", "1", "--seed", "3"]
    result = invoke(CliRunner(), "data", "synth", *args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preset") / "tiny-test.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture(scope="session")
def run(data: Path, preset: Path) -> Path:
    out = data.parent / "run"
    args = ["--data", data, "--preset", preset, "--out", out, "--device", "cpu"]
    result = invoke(CliRunner(), "train", *args)
    assert result.exit_code == 0, result.output
    assert "relnet eval" in result.stdout
    assert "val mAP (first 4 images)" in result.stdout
    return out
