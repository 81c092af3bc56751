"""fit: determinism, checkpoints, inputs, and that training on crowds beats NMS (paper §5.2)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from relnet_dedup import (
    DedupConfig,
    SyntheticConfig,
    fit,
    load_checkpoint,
    make_synthetic,
)

SMALL = DedupConfig(use_appearance=False, embed_dim=32, num_relations=4, key_dim=8, geo_dim=16)
DATA = SyntheticConfig(
    num_classes=3, classes_per_image=(1, 2), objects_per_class=(1, 2), duplicates=(2, 5), feat_dim=6
)


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    images = make_synthetic(6, DATA, seed=0)
    a = fit(images, SMALL, epochs=2, batch_size=4, seed=3, verbose=False)
    b = fit(images, SMALL, epochs=2, batch_size=4, seed=3, verbose=False)
    c = fit(images, SMALL, epochs=2, batch_size=4, seed=4, verbose=False)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert [h.loss for h in a.history] == [h.loss for h in b.history]


def test_history_checkpoint_and_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = make_synthetic(5, DATA, seed=1)
    path = tmp_path / "dedup.pt"
    result = fit(images, SMALL, epochs=3, batch_size=2, checkpoint=path, verbose=True)
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert all(h.loss > 0 and h.steps >= 1 for h in result.history)
    assert not result.model.training
    err = capsys.readouterr().err
    assert "epoch 3/3" in err
    assert "loss" in err
    loaded = load_checkpoint(path)
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dedup.pt"]


def test_dicts_features_and_sgd() -> None:
    images = make_synthetic(4, DATA, seed=2)
    dicts = [
        {
            "boxes": i.boxes,
            "scores": i.scores,
            "labels": i.labels,
            "gt_boxes": i.gt_boxes,
            "gt_labels": i.gt_labels,
            "features": i.features,
        }
        for i in images
    ]
    config = DedupConfig(feat_dim=6, embed_dim=32, num_relations=4, key_dim=8, geo_dim=16)
    result = fit(dicts, config, epochs=1, optimizer="sgd", lr=0.01, verbose=False)
    assert result.model.config.use_appearance
    default = fit(images, epochs=1, verbose=False)  # config from the data: 6-d features
    assert default.model.config.feat_dim == 6
    assert default.model.config.embed_dim == 128


def test_bad_arguments() -> None:
    images = make_synthetic(2, DATA, seed=0)
    with pytest.raises(ValueError, match="at least one image"):
        fit([], SMALL)
    with pytest.raises(ValueError, match="epochs"):
        fit(images, SMALL, epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        fit(images, SMALL, optimizer="rmsprop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"features must have shape \[N, 9\]"):
        fit(images, DedupConfig(feat_dim=9), epochs=1)
    with pytest.raises(ValueError, match="missing keys"):
        fit([{"boxes": images[0].boxes}], SMALL)
    with pytest.raises(ValueError, match="score above"):
        fit(images, SMALL, score_threshold=2.0)


CROWDS = SyntheticConfig(
    num_classes=3,
    classes_per_image=(1, 2),
    objects_per_class=(2, 3),
    crowd_prob=1.0,
    duplicates=(3, 6),
    false_positives=(0, 2),
    background_classes=0,
)


def test_training_on_crowds_beats_its_untrained_self_and_nms() -> None:
    """A short, seeded fit: held-out COCO mAP above the untrained network's and NMS at 0.5."""
    pytest.importorskip("pycocotools")
    from relnet_dedup import (
        batched_nms,
        build_dedup_network,
        coco_ground_truth,
        coco_results,
        evaluate_coco,
        learned_batched_nms,
    )

    train, test = make_synthetic(100, CROWDS, seed=11), make_synthetic(40, CROWDS, seed=12)
    gt = coco_ground_truth(test, CROWDS.num_classes, CROWDS.image_size)
    config = DedupConfig(
        use_appearance=False, embed_dim=64, num_relations=4, key_dim=16, geo_dim=32
    )

    def learned_map(model: torch.nn.Module) -> float:
        def run(image):  # type: ignore[no-untyped-def]
            return learned_batched_nms(image.boxes, image.scores, image.labels, model)

        return evaluate_coco(gt, coco_results(test, run))[0]

    def nms(image):  # type: ignore[no-untyped-def]
        keep = batched_nms(image.boxes, image.scores, image.labels, 0.5)
        return keep, image.scores[keep]

    torch.manual_seed(0)
    untrained = learned_map(build_dedup_network(config).eval())
    nms_map = evaluate_coco(gt, coco_results(test, nms))[0]
    result = fit(
        train, config, epochs=40, lr=3e-3, pos_weight=1.0, batch_size=16, seed=0, verbose=False
    )
    trained = learned_map(result.model)
    assert result.history[-1].loss < result.history[0].loss
    assert trained > untrained + 0.2
    assert trained > nms_map + 0.03


def test_plain_progress_lines_without_rich(
    hide_imports: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    hide_imports("rich")
    fit(make_synthetic(3, DATA, seed=1), SMALL, epochs=2, verbose=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2  loss ")


def test_resume_after_interruption_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_synthetic(6, DATA, seed=5)
    kwargs: dict[str, Any] = {"epochs": 4, "batch_size": 2, "seed": 7, "verbose": False}
    straight = fit(images, SMALL, checkpoint=tmp_path / "a.pt", **kwargs)

    fit_module = importlib.import_module("relnet_dedup.training.fit")  # the module, not fit()
    save = fit_module.save_checkpoint
    saved: list[int] = []

    def save_then_crash(*args: Any, **kw: Any) -> Any:
        out = save(*args, **kw)
        saved.append(1)
        if len(saved) == 2:
            raise KeyboardInterrupt  # the run dies right after epoch 2 was written
        return out

    monkeypatch.setattr(fit_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        fit(images, SMALL, checkpoint=tmp_path / "b.pt", **kwargs)
    monkeypatch.setattr(fit_module, "save_checkpoint", save)
    resumed = fit(images, SMALL, checkpoint=tmp_path / "b.pt", resume=True, **kwargs)

    assert [h.epoch for h in resumed.history] == [1, 2, 3, 4]
    assert [h.loss for h in resumed.history] == [h.loss for h in straight.history]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    images = make_synthetic(3, DATA, seed=6)
    path = tmp_path / "c.pt"
    fit(images, SMALL, epochs=1, batch_size=2, checkpoint=path, verbose=False)
    other = replace(SMALL, num_relations=2)
    with pytest.raises(ValueError, match="cannot resume"):
        fit(images, other, epochs=2, checkpoint=path, resume=True, verbose=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pos_weight": float("nan")}, r"pos_weight must be a number in \(0.0, inf\), got nan"),
        ({"pos_weight": -1.0}, r"pos_weight must be a number in \(0.0, inf\), got -1.0"),
        ({"pos_weight": float("inf")}, r"pos_weight .* got inf"),
        ({"lr": float("nan")}, r"lr must be a number in \(0.0, inf\), got nan"),
        ({"lr": 0.0}, r"lr .* got 0.0"),
        ({"weight_decay": -0.1}, r"weight_decay must be a number in \[0.0, inf\), got -0.1"),
        ({"score_threshold": "0.1"}, r"score_threshold must be a number, got '0.1' \(str\)"),
        ({"score_threshold": float("nan")}, r"score_threshold .* got nan"),
        ({"epochs": 2.0}, r"epochs must be an int, got 2.0"),
        ({"batch_size": True}, r"batch_size must be an int, got True"),
        ({"first_n": 0}, r"first_n must be an int >= 1, got 0"),
        ({"seed": "0"}, r"seed must be an int, got '0'"),
        ({"optimizer": "Adam"}, r"optimizer must be one of \('adam', 'sgd'\), got 'Adam'"),
        ({"device": "gpu"}, r"device must name a torch device, got 'gpu'"),
        ({"verbose": "yes"}, r"verbose must be True or False, got 'yes'"),
        ({"checkpoint": 3}, r"checkpoint must be a path or None, got int"),
    ],
)
def test_defect2_every_hyperparameter_is_checked(kwargs: dict[str, Any], message: str) -> None:
    """Issue 10, defect 2: NaN and negative pos_weight trained silently; score_threshold="0.1"
    failed with a TypeError inside a tensor comparison."""
    images = make_synthetic(2, DATA, seed=0)
    with pytest.raises(ValueError, match=message):
        fit(images, SMALL, **{"epochs": 1, "verbose": False, **kwargs})


def test_defect2_nan_features_are_refused_naming_the_image() -> None:
    images = make_synthetic(3, DATA, seed=0)
    bad = images[1].features.clone()  # type: ignore[union-attr]
    bad[2, 1] = float("nan")
    images[1] = replace_features(images[1], bad)
    config = DedupConfig(feat_dim=6, embed_dim=32, num_relations=4, key_dim=8, geo_dim=16)
    with pytest.raises(
        ValueError, match=r"images\[1\]: features holds NaN or inf, first at index \(2, 1\)"
    ):
        fit(images, config, epochs=1, verbose=False)


def replace_features(image: Any, features: torch.Tensor) -> Any:
    return {
        "boxes": image.boxes,
        "scores": image.scores,
        "labels": image.labels,
        "gt_boxes": image.gt_boxes,
        "gt_labels": image.gt_labels,
        "features": features,
    }


def test_numpy_scalars_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    images = make_synthetic(2, DATA, seed=0)
    result = fit(
        images,
        SMALL,
        epochs=np.int64(1),
        batch_size=np.int32(4),
        lr=np.float32(3e-3),
        pos_weight=np.float64(1.0),
        seed=np.int64(3),
        verbose=False,
    )
    assert len(result.history) == 1


@pytest.mark.parametrize("poison", ["loss", "gradient"])
def test_defect2_training_stops_at_a_non_finite_step_keeping_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, poison: str
) -> None:
    """Issue 10, defect 2: a NaN loss used to flow into the weights and the checkpoint."""
    fit_module = importlib.import_module("relnet_dedup.training.fit")
    real_loss = fit_module.dedup_loss
    calls: list[int] = []
    images = make_synthetic(4, DATA, seed=1)
    steps = fit(images, SMALL, epochs=1, batch_size=2, verbose=False).history[0].steps

    def poisoned(logits: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        loss = real_loss(logits, *args, **kwargs)
        calls.append(1)
        if len(calls) == steps + 2:  # epoch 2, step 2
            if poison == "loss":
                return loss * float("nan")  # type: ignore[no-any-return]
            return loss + torch.sqrt(logits.sum() * 0.0)  # finite loss, NaN gradient
        return loss  # type: ignore[no-any-return]

    monkeypatch.setattr(fit_module, "dedup_loss", poisoned)
    path = tmp_path / "dedup.pt"
    what = r"the loss is nan" if poison == "loss" else r"a gradient is not finite"
    with pytest.raises(
        ValueError,
        match=rf"training stopped at epoch 2, step 2 of {steps}: {what}; .*dedup\.pt holds the "
        r"last good epoch \(1\)",
    ):
        fit(images, SMALL, epochs=3, batch_size=2, checkpoint=path, verbose=False)
    from relnet_dedup.io.checkpoint import read_checkpoint

    assert len(read_checkpoint(path)["training"]["history"]) == 1
    model = load_checkpoint(path)  # refuses non-finite weights
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_defect6_missing_checkpoint_folder_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10, defect 6: a missing folder was reported only after the first epoch."""
    fit_module = importlib.import_module("relnet_dedup.training.fit")

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("training started")

    monkeypatch.setattr(fit_module, "build_training_groups", never)
    images = make_synthetic(2, DATA, seed=0)
    with pytest.raises(ValueError, match=r"cannot write .*missing.*dedup\.pt: directory .*"):
        fit(images, SMALL, epochs=1, checkpoint=tmp_path / "missing" / "dedup.pt")
