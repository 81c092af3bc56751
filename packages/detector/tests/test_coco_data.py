"""COCO folders: category maps, targets, image formats, flips, and the batch collate."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import write_coco_folder
from PIL import Image
from torchvision import tv_tensors

from relnet_detector.datasets.coco import (
    CocoFolder,
    collate,
    eval_transforms,
    images,
    train_transforms,
)
from relnet_detector.datasets.coco.categories import CategoryMap


def test_non_contiguous_category_ids_round_trip(tmp_path: Path) -> None:
    root = write_coco_folder(tmp_path / "c", category_ids=(90, -4, 17), num_images=8)
    data = CocoFolder(root, "train")
    assert data.categories.dataset_ids == (-4, 17, 90)
    assert data.categories.names == ("class-4", "class17", "class90")
    for index in range(len(data)):
        item = data[index]
        assert item is not None
        _, target = item
        anns = data.coco.loadAnns(data.coco.getAnnIds(imgIds=[target["image_id"]]))
        written = sorted(a["category_id"] for a in anns)
        mapped = sorted(data.categories.category_id(int(k)) for k in target["labels"])
        assert mapped == written
        assert target["labels"].dtype == torch.int64
        assert int(target["labels"].min()) >= 1
        assert int(target["labels"].max()) <= 3


def test_category_map_round_trip_and_errors() -> None:
    categories = CategoryMap(dataset_ids=(3, 17, 90), names=("cat", "dog", "bird"))
    assert CategoryMap.from_dict(categories.to_dict()) == categories
    assert [categories.label(c) for c in (3, 17, 90)] == [1, 2, 3]
    assert [categories.category_id(k) for k in (1, 2, 3)] == [3, 17, 90]
    assert categories.num_classes == 3
    with pytest.raises(ValueError, match="unknown category id 4"):
        categories.label(4)
    with pytest.raises(ValueError, match=r"label must lie in 1..3, got 0"):
        categories.category_id(0)
    with pytest.raises(ValueError, match="repeats category id 3"):
        CategoryMap(dataset_ids=(3, 3), names=("a", "b"))
    with pytest.raises(ValueError, match="2 dataset_ids but 1 names"):
        CategoryMap(dataset_ids=(3, 4), names=("a",))
    with pytest.raises(ValueError, match="misses names"):
        CategoryMap.from_dict({"dataset_ids": [1]})


def test_item_types_and_shapes(coco_folder: Path) -> None:
    data = CocoFolder(coco_folder, "train")
    item = data[0]
    assert item is not None
    image, target = item
    assert isinstance(image, tv_tensors.Image)
    assert image.dtype == torch.float32
    assert image.shape == (3, 96, 96)
    assert 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
    assert target["boxes"].dtype == torch.float32
    assert target["boxes"].shape[1] == 4
    assert target["labels"].shape == target["boxes"].shape[:1]
    assert target["image_id"] == 100
    assert data.image_ids == [100 + i for i in range(6)]


def test_boxes_are_xyxy_of_the_coco_xywh(coco_folder: Path) -> None:
    data = CocoFolder(coco_folder, "train")
    item = data[1]
    assert item is not None
    _, target = item
    anns = data.coco.loadAnns(data.coco.getAnnIds(imgIds=[101]))
    expected = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    torch.testing.assert_close(target["boxes"].as_subclass(torch.Tensor), expected.float())


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gray", "rgba", "palette"])
def test_every_image_mode_loads_as_rgb(tmp_path: Path, fmt: str) -> None:
    root = write_coco_folder(tmp_path / "c", num_images=2, formats=(fmt,), size=(80, 64))
    data = CocoFolder(root, "train")
    item = data[0]
    assert item is not None
    image, _ = item
    assert image.shape == (3, 64, 80)
    assert image.dtype == torch.float32
    background = image[:, 0, 0] if fmt != "jpeg" else image[:, 0, 0].round(decimals=1)
    if fmt == "gray":
        assert torch.equal(image[0], image[1])
        assert torch.equal(image[1], image[2])
    assert torch.allclose(background, torch.full((3,), 128 / 255), atol=0.05)


def test_file_names_without_subfolder(tmp_path: Path) -> None:
    root = write_coco_folder(tmp_path / "c", num_images=2, subfolder="")
    assert CocoFolder(root, "train")[1] is not None


def test_image_without_annotations_has_empty_targets(tmp_path: Path) -> None:
    def drop_first_image_annotations(data: dict[str, Any]) -> None:
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 100]

    root = write_coco_folder(tmp_path / "c", edit=drop_first_image_annotations)
    item = CocoFolder(root, "train", transforms=train_transforms(1.0))[0]
    assert item is not None
    image, target = item
    assert image.shape == (3, 96, 96)
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].shape == (0, 4)
    assert target["labels"].shape == (0,)
    assert target["labels"].dtype == torch.int64


def test_crowd_annotations_are_not_targets_but_stay_ground_truth(tmp_path: Path) -> None:
    def make_crowd(data: dict[str, Any]) -> None:
        data["annotations"][0]["iscrowd"] = 1

    root = write_coco_folder(tmp_path / "c", edit=make_crowd)
    data = CocoFolder(root, "train")
    first = data.coco.dataset["annotations"][0]
    assert first["iscrowd"] == 1
    item = data[0]
    assert item is not None
    _, target = item
    crowd_ids = {a["id"] for a in data.coco.loadAnns(data.coco.getAnnIds(imgIds=[100]))}
    assert len(crowd_ids) == target["boxes"].shape[0] + 1
    assert data.annotation_file.crowd == 1


def test_clipped_and_zero_size_boxes_are_counted_in_one_warning(tmp_path: Path) -> None:
    def break_boxes(data: dict[str, Any]) -> None:
        anns = data["annotations"]
        anns[0]["bbox"] = [-10, -5, 40, 30]  # clipped to [0, 0, 30, 25]
        anns[1]["bbox"] = [80, 80, 40, 40]  # clipped to [80, 80, 96, 96]
        anns[2]["bbox"] = [10, 10, 0, 20]  # zero width: dropped
        anns[3]["bbox"] = [200, 10, 20, 20]  # entirely outside: dropped

    root = write_coco_folder(tmp_path / "c", edit=break_boxes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = CocoFolder(root, "train")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "instances_train.json" in messages[0]
    assert "2 box(es) partly outside their image were clipped" in messages[0]
    assert "2 box(es) of zero size" in messages[0]
    boxes = torch.cat([data[i][1]["boxes"] for i in range(len(data))])  # type: ignore[index]
    assert bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert float(boxes.min()) >= 0.0
    assert float(boxes.max()) <= 96.0
    assert len(boxes) == len(data.coco.dataset["annotations"]) - 2
    first = data[0]
    assert first is not None
    torch.testing.assert_close(
        first[1]["boxes"][0].as_subclass(torch.Tensor), torch.tensor([0.0, 0.0, 30.0, 25.0])
    )


def test_a_clean_file_gives_no_warning(coco_folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CocoFolder(coco_folder, "train")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_undecodable_image_is_skipped_and_counted(coco_folder: Path, damage: str) -> None:
    path = coco_folder / "images" / "train" / "0002.png"
    if damage == "garbage":
        path.write_bytes(b"not an image at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.unlink()
    data = CocoFolder(coco_folder, "train")
    with pytest.warns(UserWarning, match=r"0002\.png: cannot decode image 102"):
        assert data[2] is None
    assert data.skipped == 1
    with pytest.warns(UserWarning, match="cannot decode image 102"):
        images, targets = collate([data[1], data[2], data[3]])
    assert len(images) == len(targets) == 2
    assert [t["image_id"] for t in targets] == [101, 103]
    assert data.skipped == 2


def test_hflip_moves_the_boxes(coco_folder: Path) -> None:
    plain = CocoFolder(coco_folder, "train", transforms=eval_transforms())[0]
    flipped = CocoFolder(coco_folder, "train", transforms=train_transforms(hflip=1.0))[0]
    assert plain is not None
    assert flipped is not None
    (image, target), (f_image, f_target) = plain, flipped
    torch.testing.assert_close(f_image, image.flip(-1))
    boxes = target["boxes"].as_subclass(torch.Tensor)
    expected = torch.stack([96 - boxes[:, 2], boxes[:, 1], 96 - boxes[:, 0], boxes[:, 3]], dim=1)
    torch.testing.assert_close(f_target["boxes"].as_subclass(torch.Tensor), expected)
    assert torch.equal(f_target["labels"], target["labels"])


def test_no_flip_when_hflip_is_zero(coco_folder: Path) -> None:
    plain = CocoFolder(coco_folder, "train")[0]
    kept = CocoFolder(coco_folder, "train", transforms=train_transforms(hflip=0.0))[0]
    assert plain is not None
    assert kept is not None
    assert torch.equal(plain[0], kept[0])


@pytest.mark.parametrize("hflip", [-0.1, 1.5, float("nan"), "0.5"])
def test_bad_hflip(hflip: Any) -> None:
    with pytest.raises(ValueError, match="hflip must be a probability"):
        train_transforms(hflip)


def test_missing_split_and_missing_images_folder(coco_folder: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"instances_val\.json"):
        CocoFolder(coco_folder, "val")
    (coco_folder / "images").rename(coco_folder / "pictures")
    with pytest.raises(FileNotFoundError, match="no images folder"):
        CocoFolder(coco_folder, "train")


def test_collate_of_an_empty_batch() -> None:
    assert collate([None, None]) == ([], [])


def test_a_16_bit_png_loads_as_its_8_bit_version(tmp_path: Path) -> None:
    """Issue 17: PIL's convert("RGB") clips I;16 to white; the loader scales it to 8 bit."""
    root = write_coco_folder(tmp_path / "c", num_images=1, formats=("gray",), size=(80, 64))
    path = root / "images" / CocoFolder(root, "train").annotation_file.images[0].file_name
    eight = np.asarray(Image.open(path).convert("L"))  # [H, W] uint8
    assert len(np.unique(eight)) > 2  # rectangles on grey: not a constant image
    Image.fromarray(eight.astype(np.uint16) * 257).save(path)  # the same image in 16 bit
    assert Image.open(path).mode == "I;16"
    item = CocoFolder(root, "train")[0]
    assert item is not None
    loaded = (item[0] * 255).round().to(torch.uint8)  # [3, H, W]
    for channel in loaded:
        assert torch.equal(channel, torch.from_numpy(eight.copy()))


def test_an_image_above_the_pixel_cap_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_coco_folder(tmp_path / "c", num_images=2, size=(80, 64))
    monkeypatch.setattr(images, "MAX_PIXELS", 80 * 64 - 1)  # so that a small file is "too large"
    data = CocoFolder(root, "train")
    with pytest.warns(UserWarning, match=r"80 x 64 = 0\.0 MP is more than"):
        assert data[0] is None
    assert data.skipped == 1
    with pytest.raises(ValueError, match="downscale the image"):
        images.open_rgb(root / "images" / data.annotation_file.images[0].file_name)
