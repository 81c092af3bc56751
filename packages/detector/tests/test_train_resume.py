"""Exact resume: a run stopped and resumed ends bit-identical to an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_config, write_coco_folder

from relnet_detector.engine.checkpoint import load_detector
from relnet_detector.engine.metrics_log import read_metrics
from relnet_detector.engine.train import train
from relnet_detector.engine.train_loop import TrainLoop

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Five train images and a val split, so that each epoch end also evaluates."""
    root = tmp_path / "coco"
    write_coco_folder(root, num_images=3, category_ids=(2, 9), split="val", subfolder="val")
    return write_coco_folder(root, num_images=5, category_ids=(2, 9))


def _assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _without_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = {"images_per_s", "seconds"}
    return [{k: v for k, v in r.items() if k not in drop} for r in records]


@pytest.mark.parametrize("stop", [2, 4])
def test_stopped_and_resumed_run_is_bit_identical(data: Path, tmp_path: Path, stop: int) -> None:
    # 5 images, batch 2: 3 steps per epoch; step 2 is mid-epoch 1, step 4 mid-epoch 2. The
    # end-to-end remover and flips (hflip 0.5) take part, so every source of randomness does.
    config = tiny_config("e2e", epochs=2, hflip=0.5, lr=0.02, warmup_iters=2, lr_steps=(1,))
    full = train(config, data, tmp_path / "full", progress=False)
    part = train(config, data, tmp_path / "part", progress=False, max_steps=stop)
    assert (part.step, part.finished) == (stop, False)
    resumed = train(config, data, tmp_path / "part", resume=True, progress=False)
    assert (resumed.epoch, resumed.step, resumed.finished) == (2, 6, True)
    _assert_identical(full.model.state_dict(), resumed.model.state_dict())
    records = _without_times(read_metrics(tmp_path / "full" / "metrics.jsonl"))
    assert records == _without_times(read_metrics(tmp_path / "part" / "metrics.jsonl"))
    assert all("mAP" in r for r in records if r["kind"] == "epoch")  # evaluated, RNGs untouched


def test_resume_after_a_crash_continues_from_the_last_checkpoint(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(epochs=2, hflip=0.5, checkpoint_every=2)
    full = train(config, data, tmp_path / "full", progress=False)

    original = TrainLoop._step
    calls = {"n": 0}

    def crash_at_step_4(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # as Ctrl-C or a killed worker would
        return original(self, *args)

    monkeypatch.setattr(TrainLoop, "_step", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(config, data, tmp_path / "crashed", progress=False)
    monkeypatch.setattr(TrainLoop, "_step", original)
    saved = load_detector(tmp_path / "crashed" / "checkpoint.pt").training
    assert saved is not None
    assert (saved["epoch"], saved["step_in_epoch"], saved["step"]) == (1, 0, 3)  # epoch end
    resumed = train(config, data, tmp_path / "crashed", resume=True, progress=False)
    _assert_identical(full.model.state_dict(), resumed.model.state_dict())


def test_resume_with_data_loader_workers(data: Path, tmp_path: Path) -> None:
    """Augmentation is seeded per image, so worker processes change nothing."""
    config = tiny_config(epochs=1, hflip=0.5)
    full = train(config, data, tmp_path / "full", progress=False)
    train(config, data, tmp_path / "part", progress=False, max_steps=1)
    workers = tiny_config(epochs=1, hflip=0.5, workers=2)  # workers may change on resume
    resumed = train(workers, data, tmp_path / "part", resume=True, progress=False)
    _assert_identical(full.model.state_dict(), resumed.model.state_dict())


def test_extending_a_finished_run(data: Path, tmp_path: Path) -> None:
    two = train(tiny_config(epochs=2), data, tmp_path / "two", progress=False)
    train(tiny_config(epochs=1), data, tmp_path / "one", progress=False)
    extended = train(tiny_config(epochs=2), data, tmp_path / "one", resume=True, progress=False)
    assert (extended.epoch, extended.step) == (2, 6)
    _assert_identical(two.model.state_dict(), extended.model.state_dict())


def test_a_run_is_not_shortened_by_resuming_with_fewer_epochs(data: Path, tmp_path: Path) -> None:
    train(tiny_config(epochs=2), data, tmp_path / "two", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "two").iterdir()}
    with pytest.raises(ValueError, match=r"train.epochs = 1: the run has finished epoch 2 already"):
        train(tiny_config(epochs=1), data, tmp_path / "two", resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "two").iterdir()} == before


def test_a_time_budget_stops_at_a_step_with_a_checkpoint_and_resumes_exactly(
    data: Path, tmp_path: Path
) -> None:
    config = tiny_config("e2e", epochs=2, hflip=0.5, lr=0.02, warmup_iters=2, lr_steps=(1,))
    full = train(config, data, tmp_path / "full", progress=False)
    part = train(config, data, tmp_path / "part", progress=False, time_budget_s=1e-9)
    assert (part.step, part.finished) == (1, False)  # the first step boundary past the budget
    assert load_detector(tmp_path / "part" / "checkpoint.pt").training["step"] == 1  # type: ignore[index]
    resumed = train(config, data, tmp_path / "part", resume=True, progress=False)
    assert (resumed.step, resumed.finished) == (6, True)
    _assert_identical(full.model.state_dict(), resumed.model.state_dict())
    with pytest.raises(ValueError, match=r"time_budget_s must be a number in \(0.0, inf\], got 0"):
        train(config, data, tmp_path / "x", progress=False, time_budget_s=0)
