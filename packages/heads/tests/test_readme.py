"""Every Python code block of the README runs, and its parameter table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relnet_heads import HeadConfig, RelationConfig, build_head, count_parameters

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_code_blocks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)


def test_readme_parameter_table() -> None:
    rm2 = (RelationConfig(), RelationConfig())
    configs = {
        "2fc (1024)": HeadConfig(kind="2fc"),
        "2fc (1432)": HeadConfig(kind="2fc", hidden_dim=1432),
        "3fc (1024)": HeadConfig(kind="3fc"),
        "2fc+res {1, 1}": HeadConfig(kind="2fc+res"),
        "2fc+RM {1, 1}": HeadConfig(kind="2fc+rm"),
        "2fc+res {2, 2}": HeadConfig(kind="2fc+res", res_blocks=(2, 2)),
        "2fc+RM {2, 2}": HeadConfig(kind="2fc+rm", fc1_relations=rm2, fc2_relations=rm2),
    }
    text = README.read_text()
    for name, config in configs.items():
        count = count_parameters(build_head(config, 256, 7))
        assert f"| {name} | {count:,} |" in text, name
