"""Issue 17: what train() checks of its data and run folder before any work, and the schedule
that follows the epochs."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import tiny_config, write_coco_folder
from PIL import Image

from relnet_detector.config import (
    DetectorConfig,
    describe_schedule,
    load_config,
    save_config,
    scale_lr_steps,
    with_epochs,
)
from relnet_detector.engine.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def two_splits(root: Path, val_ids: tuple[int, ...] = (7, 3, 42)) -> Path:
    write_coco_folder(root, num_images=4, category_ids=(7, 3, 42))
    return write_coco_folder(root, num_images=2, category_ids=val_ids, split="val", seed=1,
                             subfolder="val")  # fmt: skip


def test_a_val_split_of_other_categories_is_refused(tmp_path: Path) -> None:
    data = two_splits(tmp_path / "coco", val_ids=(7, 3, 5))
    with pytest.raises(ValueError, match=r"only in train: \[42\], only in val: \[5\]"):
        train(tiny_config(), data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def restate_size(data: Path, width: int, height: int) -> None:
    path = data / "annotations" / "instances_train.json"
    record = json.loads(path.read_text())
    record["images"][0].update(width=width, height=height)
    path.write_text(json.dumps(record))


def test_a_stated_size_other_than_the_files_is_a_warning(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4, size=(96, 96))
    restate_size(data, 120, 100)  # larger than the file: the boxes still fit the real image
    with pytest.warns(UserWarning, match=r"0000\.png is 96 x 96, not 120 x 100"):
        train(tiny_config(epochs=1), data, tmp_path / "run", progress=False, max_steps=1)


def test_a_box_outside_the_real_image_is_an_error(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4, size=(96, 96))
    path = data / "annotations" / "instances_train.json"
    record = json.loads(path.read_text())
    record["images"][0].update(width=200, height=200)
    first = next(a for a in record["annotations"] if a["image_id"] == record["images"][0]["id"])
    first["bbox"] = [100.0, 100.0, 50.0, 50.0]  # inside the stated 200 x 200, outside the file
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"is 96 x 96 pixels, but the file says 200 x 200"):
        train(tiny_config(), data, tmp_path / "run", progress=False)


def test_a_resume_on_other_images_is_refused(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4)
    run = tmp_path / "run"
    train(tiny_config(epochs=2), data, run, progress=False, max_steps=1)
    other = write_coco_folder(tmp_path / "other", num_images=4, seed=5)  # same categories
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(ValueError, match="trained on other data"):
        train(tiny_config(epochs=2), other, run, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    result = train(tiny_config(epochs=2), data, run, resume=True, progress=False)
    assert result.finished


def test_run_info_is_written_once_the_checks_pass(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4)
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="lr_steps"):
        train(tiny_config(lr_steps=(5,)), data, run, progress=False, run_info={"a": 1})
    assert not run.exists()
    train(tiny_config(epochs=1), data, run, progress=False, max_steps=1, run_info={"a": 1})
    assert json.loads((run / "run.json").read_text()) == {"a": 1}


def test_out_dir_naming_a_file(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(ValueError, match=r"afile is a file, not a run folder"):
        train(tiny_config(), data, afile, progress=False)
    assert afile.read_text() == "mine"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((4,), r"train\.lr_steps\[0\] is 4: a step at or after the last epoch \(4\)"),
        ((9,), r"steps must lie in 1 \.\. 3"),
        ((2, 2), r"train\.lr_steps must increase, got \[2, 2\]"),
    ],
)
def test_a_step_that_never_takes_effect_is_an_error(
    tmp_path: Path, steps: tuple[int, ...], message: str
) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4)
    with pytest.raises(ValueError, match=message):
        train(tiny_config(epochs=4, lr_steps=steps), data, tmp_path / "run", progress=False)


def test_the_steps_follow_the_epochs() -> None:
    tiny = load_config("tiny")
    assert (tiny.train.epochs, tiny.train.lr_steps) == (4, (3,))
    assert with_epochs(tiny, 12).train.lr_steps == (9,)
    assert with_epochs(tiny, 12, (6, 10)).train.lr_steps == (6, 10)
    assert with_epochs(tiny, 1).train.lr_steps == ()  # no step left inside one epoch
    assert with_epochs(tiny, 2).train.lr_steps == ()  # round(1.5) = 2 = the last epoch: dropped
    assert scale_lr_steps((16, 22), 26, 52) == (32, 44)
    assert scale_lr_steps((1, 2), 4, 2) == (1,)  # steps that land together merge
    line = describe_schedule(0.02, 12, 100, (9,), 0.1)
    assert line == "lr 0.02, warm-up 100 steps, x0.1 after epoch 9 of 12"


def test_a_toml_with_epochs_and_no_steps_moves_the_steps(tmp_path: Path) -> None:
    path = tmp_path / "long.toml"
    path.write_text("[train]\nepochs = 12\n")
    assert load_config(path).train.lr_steps == (9,)
    path.write_text("[train]\nepochs = 12\nlr_steps = [4]\n")
    assert load_config(path).train.lr_steps == (4,)
    full = replace(DetectorConfig(), train=replace(DetectorConfig().train, epochs=12))
    save_config(full, tmp_path / "all.toml")  # every field: the file's steps are kept
    assert load_config(tmp_path / "all.toml").train.lr_steps == (3,)


def test_a_clean_folder_gives_no_size_warning(tmp_path: Path) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(tiny_config(epochs=1), data, tmp_path / "run", progress=False, max_steps=1)
    with Image.open(next((data / "images" / "train").iterdir())) as image:
        assert image.size == (96, 96)
