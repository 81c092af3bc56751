"""Detector checkpoints: round trip, weights_only, atomic and umask-respecting writes, and a
ValueError naming the path for every bad file or mismatch."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relnet_core.checkpoints import save_file
from relnet_dedup import DedupConfig, build_dedup_network, save_checkpoint
from relnet_detector._version import __version__
from relnet_detector.config import DetectorConfig
from relnet_detector.datasets.coco.categories import CategoryMap
from relnet_detector.engine.checkpoint import FORMAT, load_detector, save_detector
from relnet_detector.modeling.model import build_detector

pytestmark = pytest.mark.usefixtures("one_thread")

CATEGORIES = CategoryMap(dataset_ids=(5, 11, 90), names=("cat", "dog", "bird"))


@pytest.fixture(scope="module")
def config() -> DetectorConfig:
    return tiny_config()


@pytest.fixture(scope="module")
def model(config: DetectorConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detector(config.model, CATEGORIES.num_classes)


@pytest.fixture
def saved(tmp_path: Path, model: torch.nn.Module, config: DetectorConfig) -> Path:
    return save_detector(tmp_path / "checkpoint.pt", model, config, CATEGORIES)


def test_round_trip(saved: Path, model: torch.nn.Module, config: DetectorConfig) -> None:
    loaded = load_detector(saved)
    assert loaded.config == config
    assert loaded.categories == CATEGORIES
    assert loaded.training is None
    assert not loaded.model.training
    expected = model.state_dict()
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_training_state_round_trips(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    training = {"epoch": 3, "rng": [{"torch": torch.get_rng_state()}], "history": [{"loss": 1.5}]}
    path = save_detector(tmp_path / "c.pt", model, config, CATEGORIES, training)
    loaded = load_detector(path, map_location="cpu")
    assert loaded.training is not None
    assert loaded.training["epoch"] == 3
    assert torch.equal(loaded.training["rng"][0]["torch"], training["rng"][0]["torch"])  # type: ignore[index]


def test_a_ddp_wrapper_is_unwrapped(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    class Wrapper(torch.nn.Module):
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    path = save_detector(tmp_path / "c.pt", Wrapper(model), config, CATEGORIES)
    assert load_detector(path).model.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_the_umask_is_respected(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig, umask: int
) -> None:
    old = os.umask(umask)
    try:
        path = save_detector(tmp_path / "c.pt", model, config, CATEGORIES)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporary_files_are_removed(
    saved: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    stale = saved.parent / f".{saved.name}.0123456789abcdef.tmp"
    stale.write_bytes(b"left by a killed save")
    save_detector(saved, model, config, CATEGORIES)
    assert not stale.exists()
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_a_failed_save_keeps_the_previous_checkpoint(
    saved: Path, model: torch.nn.Module, config: DetectorConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = saved.read_bytes()
    real_save = torch.save

    def fail_half_way(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if hasattr(f, "fileno"):  # the file on disk, not the in-memory payload
            f.write(b"partial")
            raise OSError("disk full")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_detector(saved, model, config, CATEGORIES)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_save_into_a_missing_folder(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    with pytest.raises(ValueError, match="nowhere"):
        save_detector(tmp_path / "nowhere" / "c.pt", model, config, CATEGORIES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("not a model", "config", "categories"), "model must be a torch.nn.Module"),
        ((None, "config", "categories"), "model must be a torch.nn.Module"),
        (("model", {"model": {}}, "categories"), "config must be a DetectorConfig"),
        (("model", "config", {"dataset_ids": [1]}), "categories must be a CategoryMap"),
    ],
)
def test_save_checks_its_arguments(
    tmp_path: Path,
    model: torch.nn.Module,
    config: DetectorConfig,
    args: tuple[Any, ...],
    message: str,
) -> None:
    real = {"model": model, "config": config, "categories": CATEGORIES}
    values = [real.get(a, a) if isinstance(a, str) else a for a in args]
    with pytest.raises(ValueError, match=message):
        save_detector(tmp_path / "c.pt", *values)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.pt"):
        load_detector(tmp_path / "nothing.pt")


@pytest.mark.parametrize(
    "damage",
    ["hello", "empty", "truncated", "flipped byte", "plain torch file", "dedup checkpoint"],
)
def test_bad_files_raise_naming_the_path(saved: Path, damage: str) -> None:
    data = saved.read_bytes()
    if damage == "hello":
        saved.write_bytes(b"hello world\n")
    elif damage == "empty":
        saved.write_bytes(b"")
    elif damage == "truncated":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        middle = len(data) // 2
        saved.write_bytes(data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :])
    elif damage == "plain torch file":
        torch.save({"state_dict": {}}, saved)
    else:
        save_checkpoint(build_dedup_network(DedupConfig(feat_dim=8)), saved)
    with pytest.raises(ValueError, match=r"checkpoint\.pt") as info:
        load_detector(saved)
    if damage in ("plain torch file", "dedup checkpoint"):
        assert "relnet-detector/checkpoint" in str(info.value)


def _payload(cfg: DetectorConfig, model: torch.nn.Module, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "version": __version__,
        "config": cfg.to_dict(),
        "categories": CATEGORIES.to_dict(),
        "state_dict": model.state_dict(),
    }
    payload.update(changes)
    return payload


def test_incompatible_version(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    path = save_file(_payload(config, model, version="7.3.0"), tmp_path / "c.pt", format=FORMAT)
    with pytest.raises(ValueError, match=r"c\.pt was written by relnet-detector 7\.3\.0"):
        load_detector(path)


def test_weights_that_do_not_match_the_config(
    tmp_path: Path, model: torch.nn.Module, config: DetectorConfig
) -> None:
    wider = replace(config.model, head=replace(config.model.head, hidden_dim=32))
    other = replace(config, model=wider).to_dict()
    path = save_file(_payload(config, model, config=other), tmp_path / "c.pt", format=FORMAT)
    with pytest.raises(ValueError, match=r"c\.pt: its weights do not match its configuration"):
        load_detector(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("config", {"model": {"min_size": "big"}}, r"c\.pt is malformed: model\.min_size"),
        ("categories", {"dataset_ids": [1, 1], "names": ["a", "b"]}, r"c\.pt is malformed"),
        ("state_dict", None, r"c\.pt is malformed: it has no 'state_dict'"),
    ],
)
def test_malformed_payloads(
    tmp_path: Path,
    model: torch.nn.Module,
    config: DetectorConfig,
    key: str,
    value: Any,
    message: str,
) -> None:
    payload = _payload(config, model, **{key: value})
    if value is None:
        del payload[key]
    path = save_file(payload, tmp_path / "c.pt", format=FORMAT)
    with pytest.raises(ValueError, match=message):
        load_detector(path)


def test_expected_class_count_categories_and_config(saved: Path, config: DetectorConfig) -> None:
    with pytest.raises(
        ValueError, match=r"checkpoint .*checkpoint\.pt has 3 classes, the dataset has 5"
    ):
        load_detector(saved, num_classes=5)
    other_ids = CategoryMap(dataset_ids=(5, 11, 91), names=("cat", "dog", "bird"))
    with pytest.raises(
        ValueError, match=r"has category ids \[5, 11, 90\], the dataset has \[5, 11, 91\]"
    ):
        load_detector(saved, categories=other_ids)
    wider = replace(config, model=replace(config.model, min_size=48, max_size=48))
    with pytest.raises(
        ValueError,
        match=r"another model configuration: model\.max_size is 64 in the checkpoint, 48 here",
    ):
        load_detector(saved, config=wider)
    other_training = replace(config, train=replace(config.train, lr=0.5))
    assert load_detector(saved, config=other_training, num_classes=3, categories=CATEGORIES)


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory, model: torch.nn.Module, config: DetectorConfig
) -> bytes:
    path = save_detector(tmp_path_factory.mktemp("fuzz") / "c.pt", model, config, CATEGORIES)
    return path.read_bytes()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_files_fail_naming_the_path_or_load_the_exact_weights(
    tmp_path: Path, pristine: bytes, model: torch.nn.Module, data: st.DataObject
) -> None:
    blob = bytearray(pristine)
    kind = data.draw(st.sampled_from(["flip", "cut", "random"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "cut":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob = bytearray(data.draw(st.binary(max_size=64)))
    path = tmp_path / "fuzzed.pt"
    path.write_bytes(bytes(blob))
    try:
        loaded = load_detector(path)
    except ValueError as err:
        message = str(err)
    else:
        message = ""
    if message:
        assert str(path) in message
        return
    expected = model.state_dict()
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(value, expected[name]), name
