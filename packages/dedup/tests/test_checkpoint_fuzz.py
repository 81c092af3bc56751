"""Property-based fuzzing of load_checkpoint (issue 10, defect 4): random bytes and mutated real
checkpoints give a ValueError naming the path, or exactly the original weights; never another
exception and never changed weights."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relnet_dedup import DedupConfig, build_dedup_network, load_checkpoint, save_checkpoint

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONFIG = DedupConfig(use_appearance=False, embed_dim=16, num_relations=2, key_dim=4, geo_dim=8)


@functools.cache
def original() -> tuple[bytes, dict[str, torch.Tensor]]:
    """A real checkpoint's bytes and its weights."""
    torch.manual_seed(0)
    model = build_dedup_network(CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(model, Path(tmp) / "real.pt")
        data = path.read_bytes()
    return data, {k: v.clone() for k, v in model.state_dict().items()}


def check_outcome(path: Path) -> None:
    """A ValueError naming the path, or exactly the original weights."""
    try:
        model, message = load_checkpoint(path), ""
    except ValueError as err:
        model, message = None, str(err)
    if model is None:
        assert path.name in message, message
        return
    _, weights = original()
    state = model.state_dict()
    assert state.keys() == weights.keys()
    for key, value in weights.items():
        assert torch.equal(state[key], value), key


@SETTINGS
@given(data=st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random_bytes.pt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"random_bytes\.pt"):
        load_checkpoint(path)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(original()[0])
    kind = draw(st.sampled_from(["flip", "flips", "truncate", "delete", "insert", "overwrite"]))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        data[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "flips":
        for p in draw(st.lists(st.integers(0, len(data) - 1), min_size=2, max_size=8)):
            data[p] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        del data[pos:]
    elif kind == "delete":
        del data[pos : pos + draw(st.integers(1, 64))]
    elif kind == "insert":
        data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    else:
        chunk = draw(st.binary(min_size=1, max_size=64))
        data[pos : pos + len(chunk)] = chunk
    return bytes(data)


@SETTINGS
@given(data=mutations())
def test_mutated_real_checkpoints(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "mutated.pt"
    path.write_bytes(data)
    check_outcome(path)


def test_every_region_of_the_file_is_protected(tmp_path: Path) -> None:
    """A single flipped byte at 400 positions spread over the whole file, deterministically."""
    data = original()[0]
    path = tmp_path / "swept.pt"
    step = max(1, len(data) // 400)
    for pos in range(0, len(data), step):
        mutated = bytearray(data)
        mutated[pos] ^= 0xFF
        path.write_bytes(bytes(mutated))
        check_outcome(path)
