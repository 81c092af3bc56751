"""relnet_core.files' text, JSON and path writers; check_bool; mix_seed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from relnet_core.checks import check_bool
from relnet_core.files import atomic_path, write_json, write_text
from relnet_core.seeding import mix_seed


def test_write_json_and_text_replace_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_text(path, "old content that is longer\n")
    assert write_json(path, {"a": [1, 2]}, indent=None) == path
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    assert path.read_text().endswith("\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_atomic_path_moves_on_success_and_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path
        assert tmp != path
        tmp.write_bytes(b"new")
        assert path.read_bytes() == b"old"  # not yet moved
    assert path.read_bytes() == b"new"

    def fail_half_way() -> None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_half_way()
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]


def test_atomic_path_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_atomic_path_names_a_missing_folder(tmp_path: Path) -> None:
    with (
        pytest.raises(
            ValueError, match=r"cannot write .*nope.*a\.png: directory .* does not exist"
        ),
        atomic_path(tmp_path / "nope" / "a.png"),
    ):
        pass


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts_bools(value: object) -> None:
    assert check_bool("flag", value) is bool(value)


@pytest.mark.parametrize("value", [0, 1, "true", None, 1.0])
def test_check_bool_refuses_the_rest_naming_it(value: object) -> None:
    with pytest.raises(ValueError, match=r"flag must be a bool, got .*"):
        check_bool("flag", value)


def test_mix_seed_is_deterministic_ordered_and_63_bit() -> None:
    seeds = {mix_seed(0, epoch, image) for epoch in range(4) for image in range(50)}
    assert len(seeds) == 200
    assert all(0 <= s < 2**63 for s in seeds)
    assert mix_seed(3, 1, 2) == mix_seed(3, 1, 2) != mix_seed(3, 2, 1)
    assert mix_seed(-1) == mix_seed(2**64 - 1)  # modulo 2**64
