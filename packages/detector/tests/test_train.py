"""Training on a COCO folder: the loss falls, the run folder, errors before any work is lost."""

from __future__ import annotations

import json
import tomllib
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_config, write_coco_folder

import relnet_detector.modeling.model
from relnet_detector.config import DetectorConfig
from relnet_detector.datasets.coco import CocoFolder
from relnet_detector.engine.checkpoint import load_detector
from relnet_detector.engine.metrics_log import read_metrics
from relnet_detector.engine.rng_state import seed_everything
from relnet_detector.engine.run_folder import keep_best
from relnet_detector.engine.train import NonFiniteLossError, train
from relnet_detector.evaluation.evaluate import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_coco_folder(tmp_path / "coco", num_images=4, category_ids=(7, 3, 42))


def test_loss_falls_and_the_run_folder_is_complete(data: Path, tmp_path: Path) -> None:
    config = tiny_config(epochs=5, lr=0.02, hflip=0.0, checkpoint_every=3)
    result = train(config, data, tmp_path / "run", progress=False)
    assert result.finished
    assert (result.epoch, result.step) == (5, 10)
    epochs = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5]
    assert epochs[-1]["loss"] < 0.8 * epochs[0]["loss"], [r["loss"] for r in epochs]
    assert result.history == epochs
    steps = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, 11))
    expected = {
        "epoch",
        "lr",
        "loss",
        "loss_classifier",
        "loss_box_reg",
        "loss_objectness",
        "loss_rpn_box_reg",
        "images_per_s",
        "skipped_images",
    }
    assert expected <= set(steps[0])
    saved = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert DetectorConfig.from_dict(saved) == config
    loaded = load_detector(tmp_path / "run" / "checkpoint.pt")
    assert loaded.config == config
    assert loaded.categories.dataset_ids == (3, 7, 42)
    assert loaded.training is not None
    assert loaded.training["step"] == 10
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[name]), name


def test_end_to_end_remover_trains_with_its_loss(data: Path, tmp_path: Path) -> None:
    """loss_dedup is logged and summed into the loss, and it moves the end-to-end network away
    from its initial weights (those train() builds from the seed)."""
    config = tiny_config("e2e", epochs=2)
    result = train(config, data, tmp_path / "run", progress=False, max_steps=2)
    records = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "step"]
    assert len(records) == 2
    for record in records:
        assert 0.0 < record["loss_dedup"] < 1.0  # a BCE of probabilities near sigmoid(-3)
        parts = sum(v for k, v in record.items() if k.startswith("loss_"))
        assert record["loss"] == pytest.approx(parts, rel=1e-5)
    assert int(result.model.roi_heads.dedup_steps) == 2  # type: ignore[union-attr]
    assert not result.finished
    seed_everything(config.train.seed)
    initial = relnet_detector.modeling.model.build_detector(config.model, 3).roi_heads.dedup
    trained = result.model.roi_heads.dedup
    assert initial is not None
    assert trained is not None
    moved = [
        name
        for name, value in trained.state_dict().items()
        if not torch.equal(value, initial.state_dict()[name])
    ]
    assert "classifier.weight" in moved


def test_each_epoch_records_the_val_map(tmp_path: Path) -> None:
    """With a val split, each epoch's record holds the COCO mAP of the training remover on the
    first ``val_images`` val images: the numbers ``evaluate`` gives for the model of that epoch."""
    root = tmp_path / "coco"
    write_coco_folder(root, num_images=4, category_ids=(7, 3, 42), split="val", subfolder="val")
    write_coco_folder(root, num_images=4, category_ids=(7, 3, 42))
    config = tiny_config(epochs=2, lr=0.02, val_images=3)
    result = train(config, root, tmp_path / "run", progress=False)
    epochs = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [r["val_images"] for r in epochs] == [3, 3]
    assert all(0.0 <= r[k] <= 1.0 for r in epochs for k in ("mAP", "mAP50", "mAP75"))
    expected = evaluate(
        result.model,
        CocoFolder(root, "val"),
        [config.model.remover],
        categories=result.categories,
        progress=False,
        max_images=3,
    )
    assert epochs[-1]["mAP"] == expected.rows[0].stats["AP"]
    assert epochs[-1]["mAP50"] == expected.rows[0].stats["AP50"]
    best = max(range(2), key=lambda k: (epochs[k]["mAP"], -k))  # the first of equals
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["best"] == {"checkpoint": "best.pt", "epoch": best + 1, "mAP": epochs[best]["mAP"]}
    kept = load_detector(tmp_path / "run" / "best.pt")
    assert kept.training is not None
    assert len(kept.training["history"]) == best + 1  # the checkpoint of that epoch
    no_val = train(
        replace(config, train=replace(config.train, val_images=0)),
        root,
        tmp_path / "b",
        progress=False,
    )
    assert all("mAP" not in r for r in no_val.history)
    assert not (tmp_path / "b" / "best.pt").exists()


def test_best_keeps_the_checkpoint_of_the_best_val_map_so_far(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"data": "/somewhere"}')
    history: list[dict[str, Any]] = []
    for epoch, (m_ap, content) in enumerate([(0.3, b"A"), (0.2, b"B"), (0.5, b"C"), (0.5, b"D")]):
        (tmp_path / "checkpoint.pt").write_bytes(content)
        history.append({"epoch": epoch + 1, "mAP": m_ap})
        keep_best(tmp_path, history)
        if epoch == 1:
            assert (tmp_path / "best.pt").read_bytes() == b"A"  # 0.2 < 0.3
    assert (tmp_path / "best.pt").read_bytes() == b"C"  # the first of two equal epochs
    info = json.loads((tmp_path / "run.json").read_text())
    assert info == {"data": "/somewhere", "best": {"checkpoint": "best.pt", "epoch": 3, "mAP": 0.5}}
    assert not keep_best(tmp_path, [*history, {"epoch": 5}])  # an epoch without val


def test_the_end_to_end_remover_has_its_own_learning_rate(data: Path, tmp_path: Path) -> None:
    """Its parameters (and only they) follow ``lr * dedup_lr_factor`` through the schedule."""
    config = tiny_config("e2e", lr=0.02, warmup_iters=4, dedup_lr_factor=3.0, dedup_optimizer="sgd")
    result = train(config, data, tmp_path / "run", progress=False, max_steps=1)
    training = load_detector(tmp_path / "run" / "checkpoint.pt").training
    assert training is not None
    detector_group, dedup_group = training["optimizer"]["param_groups"]
    assert dedup_group["lr"] == pytest.approx(3.0 * detector_group["lr"])
    assert detector_group["lr"] < 0.02  # in warm-up: the factor rides on the schedule
    dedup = result.model.roi_heads.dedup  # type: ignore[union-attr]
    assert len(dedup_group["params"]) == len(list(dedup.parameters()))
    total = len(list(result.model.parameters()))
    assert len(detector_group["params"]) + len(dedup_group["params"]) == total


def test_the_end_to_end_remover_may_learn_with_adam(data: Path, tmp_path: Path) -> None:
    """dedup_optimizer="adam": the network's group is Adam's (its lr on the schedule), the rest
    SGD's; a run resumed after one step ends bit-identical to an uninterrupted one."""
    config = tiny_config("e2e", epochs=2, warmup_iters=4, dedup_optimizer="adam",
                         dedup_lr_factor=0.15)  # fmt: skip
    whole = train(config, data, tmp_path / "whole", progress=False, max_steps=3)
    training = load_detector(tmp_path / "whole" / "checkpoint.pt").training
    assert training is not None
    assert set(training["optimizer"]) == {"sgd", "adam"}
    (detector_group,) = training["optimizer"]["sgd"]["param_groups"]
    (dedup_group,) = training["optimizer"]["adam"]["param_groups"]
    assert dedup_group["lr"] == pytest.approx(0.15 * detector_group["lr"])
    assert "momentum" in detector_group
    assert "betas" in dedup_group
    train(config, data, tmp_path / "pieces", progress=False, max_steps=1)
    pieces = train(config, data, tmp_path / "pieces", resume=True, progress=False, max_steps=3)
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, pieces.model.state_dict()[name]), name
    sgd = replace(config, train=replace(config.train, dedup_optimizer="sgd"))
    with pytest.raises(ValueError, match="another configuration"):
        train(sgd, data, tmp_path / "pieces", resume=True, progress=False)


def test_progress_bar_runs(data: Path, tmp_path: Path) -> None:
    result = train(tiny_config(), data, tmp_path / "run", progress=True, max_steps=1)
    assert result.step == 1
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


@pytest.mark.parametrize(("epochs", "stop"), [(1, 2), (2, 2)])
def test_max_steps_at_an_epoch_end_keeps_the_epochs_record(
    data: Path, tmp_path: Path, epochs: int, stop: int
) -> None:
    """Stopping on an epoch's last step still writes that epoch (2 steps per epoch here)."""
    result = train(
        tiny_config(epochs=epochs), data, tmp_path / "run", progress=False, max_steps=stop
    )
    assert result.finished == (epochs == 1)
    assert (result.epoch, result.step) == (1, 2)
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1]


def test_undecodable_images_are_skipped_and_counted(data: Path, tmp_path: Path) -> None:
    (data / "images" / "train" / "0001.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="cannot decode image 101"):
        result = train(tiny_config(epochs=2), data, tmp_path / "run", progress=False)
    assert result.finished
    assert result.skipped_images == 2  # once per epoch
    last = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["skipped_images"] == 2
    assert last["images"] == 3


def test_a_batch_of_only_undecodable_images_is_passed_over(data: Path, tmp_path: Path) -> None:
    for name in ("0000.png", "0001.png", "0002.png"):
        (data / "images" / "train" / name).write_bytes(b"broken")
    with pytest.warns(UserWarning, match="cannot decode image"):
        result = train(tiny_config(), data, tmp_path / "run", progress=False)
    assert (result.finished, result.step, result.skipped_images) == (True, 2, 3)
    steps = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "step"]
    assert sorted(r["loss"] == 0.0 for r in steps) == [False, True]  # the empty batch: no loss
    assert read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]["images"] == 1


class _NaNAfter(torch.nn.Module):
    """Wraps a detector: its losses turn NaN from the ``after``-th training call on."""

    def __init__(self, model: torch.nn.Module, after: int) -> None:
        super().__init__()
        self.model, self.after, self.calls = model, after, 0

    def forward(self, *args: Any) -> Any:
        self.calls += 1
        out = self.model(*args)
        if self.training and self.calls >= self.after:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.state_dict(*args, **kwargs)


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_checkpoint(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = relnet_detector.modeling.model.build_detector
    monkeypatch.setattr(
        relnet_detector.modeling.model, "build_detector", lambda *a: _NaNAfter(build(*a), after=3)
    )
    config = tiny_config(epochs=3, checkpoint_every=2)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at epoch 2, step 3") as info:
        train(config, data, tmp_path / "run", progress=False)
    assert "checkpoint.pt is kept" in str(info.value)
    assert isinstance(info.value, ValueError)
    monkeypatch.setattr(relnet_detector.modeling.model, "build_detector", build)
    loaded = load_detector(tmp_path / "run" / "checkpoint.pt")
    assert loaded.training is not None
    assert loaded.training["step"] == 2
    assert all(bool(torch.isfinite(v).all()) for v in loaded.model.state_dict().values())


def _no_model(*args: Any) -> Any:
    raise AssertionError("the model was built although training had to stop before")


def test_unwritable_run_folder_fails_before_any_work(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relnet_detector.modeling.model, "build_detector", _no_model)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="a_file"):
        train(tiny_config(), data, blocker / "run", progress=False)


def test_malformed_data_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relnet_detector.modeling.model, "build_detector", _no_model)
    data = write_coco_folder(
        tmp_path / "coco", edit=lambda d: d["annotations"][1].update(category_id=99)
    )
    with pytest.raises(ValueError, match=r"instances_train\.json: annotations\[1\]: unknown"):
        train(tiny_config(), data, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="no annotation file"):
        train(tiny_config(), tmp_path / "nowhere", tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_folder_whose_images_do_not_load_fails_before_any_work(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relnet_detector.modeling.model, "build_detector", _no_model)
    (data / "images" / "train").rename(data / "images" / "elsewhere")
    with pytest.raises(ValueError, match=r"none of the images tried can be decoded, e\.g\. .*0000"):
        train(tiny_config(), data, tmp_path / "run", progress=False)


def test_an_existing_run_needs_resume(data: Path, tmp_path: Path) -> None:
    train(tiny_config(), data, tmp_path / "run", progress=False, max_steps=1)
    with pytest.raises(ValueError, match="already holds a checkpoint: pass resume=True"):
        train(tiny_config(), data, tmp_path / "run", progress=False)


def test_resume_without_checkpoint_starts_afresh(data: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="no checkpoint in .* to resume from: starting afresh"):
        result = train(tiny_config(), data, tmp_path / "run", resume=True, progress=False)
    assert result.finished
    assert result.step == 2


def test_resume_with_another_config_or_dataset_fails(data: Path, tmp_path: Path) -> None:
    train(tiny_config(), data, tmp_path / "run", progress=False, max_steps=1)
    with pytest.raises(ValueError, match=r"another configuration: train\.lr is 0\.01 in the"):
        train(tiny_config(lr=0.05), data, tmp_path / "run", resume=True, progress=False)
    other = write_coco_folder(tmp_path / "other", num_images=4, category_ids=(1, 2))
    with pytest.raises(ValueError, match=r"checkpoint .* has 3 classes, the dataset has 2"):
        train(tiny_config(), other, tmp_path / "run", resume=True, progress=False)
    # epochs, workers, checkpoint_every and log_every may change on resume
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = train(
            tiny_config(epochs=2, log_every=5), data, tmp_path / "run", resume=True, progress=False
        )
    assert (result.epoch, result.step) == (2, 4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", float("nan"), r"train\.lr must be a number in \(0\.0, inf\), got nan"),
        ("lr", -0.1, r"train\.lr must be a number in"),
        ("batch_size", 0, r"train\.batch_size must be an int >= 1, got 0"),
        ("momentum", 1.5, r"train\.momentum must be a number in \[0\.0, 1\.0\)"),
        ("lr_steps", (0,), r"train\.lr_steps\[0\] must be an int >= 1, got 0"),
        ("dedup_lr_factor", 0.0, r"train\.dedup_lr_factor must be a number in \(0\.0, inf\)"),
        ("val_images", -1, r"train\.val_images must be an int >= 0, got -1"),
        ("dedup_optimizer", "lamb", r"train\.dedup_optimizer must be one of"),
    ],
)
def test_bad_hyperparameters_name_the_field(
    data: Path, tmp_path: Path, field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train(tiny_config(**{field: value}), data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
