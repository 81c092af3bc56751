"""Malformed COCO annotation files: a ValueError naming the file, the record and the problem."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import write_coco_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relnet_detector.datasets.coco import CocoFolder

Edit = Callable[[dict[str, Any]], None]


def _set(section: str, index: int, key: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[section][index][key] = value

    return edit


def _delete(section: str, index: int, key: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        del data[section][index][key]

    return edit


def _drop(key: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        del data[key]

    return edit


def _duplicate(section: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[section][1]["id"] = data[section][0]["id"]

    return edit


def _empty(section: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[section] = []

    return edit


CASES: dict[str, tuple[Edit, str]] = {
    "no images list": (_drop("images"), "missing the 'images' list"),
    "no annotations list": (_drop("annotations"), "missing the 'annotations' list"),
    "no categories list": (_drop("categories"), "missing the 'categories' list"),
    "images not a list": (lambda d: d.update(images={}), "'images' must be a list"),
    "empty dataset": (_empty("images"), "empty dataset"),
    "no categories": (_empty("categories"), "holds no category"),
    "image without id": (_delete("images", 1, "id"), r"images\[1\]: missing field 'id'"),
    "image without file_name": (
        _delete("images", 2, "file_name"),
        r"images\[2\]: missing field 'file_name'",
    ),
    "image without width": (_delete("images", 0, "width"), r"images\[0\]: missing field 'width'"),
    "zero height": (_set("images", 0, "height", 0), r"images\[0\]: width and height must be"),
    "absolute file_name": (
        _set("images", 0, "file_name", "/etc/passwd"),
        r"images\[0\]: file_name '/etc/passwd' must be a relative path",
    ),
    "escaping file_name": (
        _set("images", 0, "file_name", "../secret.png"),
        r"images\[0\]: file_name '../secret.png' must be a relative path",
    ),
    "image record not an object": (
        lambda d: d["images"].__setitem__(3, [1, 2]),
        r"images\[3\] must be a JSON object",
    ),
    "duplicate image id": (_duplicate("images"), r"images\[1\]: duplicate image id 100"),
    "duplicate annotation id": (
        _duplicate("annotations"),
        r"annotations\[1\]: duplicate annotation id 1",
    ),
    "duplicate category id": (_duplicate("categories"), r"categories\[1\]: duplicate category"),
    "category without name": (
        _delete("categories", 0, "name"),
        r"categories\[0\]: missing field 'name'",
    ),
    "annotation without bbox": (
        _delete("annotations", 2, "bbox"),
        r"annotations\[2\]: missing field 'bbox'",
    ),
    "annotation without image_id": (
        _delete("annotations", 0, "image_id"),
        r"annotations\[0\]: missing field 'image_id'",
    ),
    "annotation without category_id": (
        _delete("annotations", 0, "category_id"),
        r"annotations\[0\]: missing field 'category_id'",
    ),
    "annotation without id": (
        _delete("annotations", 0, "id"),
        r"annotations\[0\]: missing field 'id'",
    ),
    "unknown image id": (
        _set("annotations", 1, "image_id", 999),
        r"annotations\[1\]: unknown image id 999",
    ),
    "unknown category id": (
        _set("annotations", 1, "category_id", 5),
        r"annotations\[1\]: unknown category id 5",
    ),
    "fractional category id": (
        _set("annotations", 0, "category_id", 1.7),
        r"annotations\[0\]: category_id must be an integer, got 1.7",
    ),
    "string image id": (
        _set("annotations", 0, "image_id", "100"),
        r"annotations\[0\]: image_id must be an integer, got '100'",
    ),
    "bbox of 3 numbers": (
        _set("annotations", 0, "bbox", [10, 20, 30]),
        r"annotations\[0\]: bbox must be a list of 4 numbers",
    ),
    "bbox of 5 numbers": (
        _set("annotations", 0, "bbox", [1, 2, 3, 4, 5]),
        r"annotations\[0\]: bbox must be a list of 4 numbers",
    ),
    "bbox with a string": (
        _set("annotations", 0, "bbox", [1, "2", 3, 4]),
        r"annotations\[0\]: bbox must be a list of 4 numbers",
    ),
    "bbox with NaN": (
        _set("annotations", 0, "bbox", [1, float("nan"), 3, 4]),
        r"annotations\[0\]: bbox holds a non-finite number",
    ),
    "bbox with infinity": (
        _set("annotations", 0, "bbox", [1, 2, float("inf"), 4]),
        r"annotations\[0\]: bbox holds a non-finite number",
    ),
    "negative width": (
        _set("annotations", 0, "bbox", [10, 20, -30, 40]),
        r"annotations\[0\]: bbox has a negative width or height",
    ),
    "iscrowd of 2": (_set("annotations", 0, "iscrowd", 2), r"annotations\[0\]: iscrowd must be"),
    "negative area": (_set("annotations", 0, "area", -1), r"annotations\[0\]: area must be"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_file_names_file_record_and_problem(tmp_path: Path, case: str) -> None:
    edit, message = CASES[case]
    root = write_coco_folder(tmp_path / "c", num_images=4, category_ids=(1, 2), edit=edit)
    with pytest.raises(ValueError, match=message) as info:
        CocoFolder(root, "train")
    assert str(info.value).startswith(str(root / "annotations" / "instances_train.json") + ": ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{not json", "not a JSON file"),
        (b"\xff\xfe\x00garbage", "not a JSON file"),
        (
            b"[1, 2, 3]",
            "expected a JSON object with images, annotations and categories, got a list",
        ),
        (b"", "not a JSON file"),
    ],
)
def test_not_a_coco_file(coco_folder: Path, text: bytes, message: str) -> None:
    path = coco_folder / "annotations" / "instances_train.json"
    path.write_bytes(text)
    with pytest.raises(ValueError, match=message) as info:
        CocoFolder(coco_folder, "train")
    assert str(path) in str(info.value)


def test_optional_fields_are_filled_for_cocoeval(tmp_path: Path) -> None:
    def strip(data: dict[str, Any]) -> None:
        for ann in data["annotations"]:
            del ann["area"], ann["iscrowd"]
        data["annotations"][0]["image_id"] = 101.0  # integral floats are ids too

    data = CocoFolder(write_coco_folder(tmp_path / "c", edit=strip), "train")
    first = data.coco.dataset["annotations"][0]
    assert first["iscrowd"] == 0
    assert first["area"] == first["bbox"][2] * first["bbox"][3]
    assert first["image_id"] == 101
    assert isinstance(first["image_id"], int)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 1000) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    section=st.sampled_from(["images", "annotations", "categories"]),
    index=st.integers(0, 1),
    key=st.sampled_from(["id", "image_id", "category_id", "bbox", "file_name", "width", "name"]),
    value=JSON_VALUES,
)
def test_fuzzed_records_load_or_fail_naming_file_and_record(
    coco_folder: Path, section: str, index: int, key: str, value: Any
) -> None:
    path = coco_folder / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    data[section][index][key] = value
    broken = path.with_name("instances_fuzz.json")
    broken.write_text(json.dumps(data))
    try:
        dataset = CocoFolder(coco_folder, "fuzz")
    except ValueError as err:
        message = str(err)
    else:
        assert len(dataset) == 6
        return
    assert message.startswith(f"{broken}: "), message
    assert re.search(r"(images|annotations|categories)\[\d+\]", message), message
