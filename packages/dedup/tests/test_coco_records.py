"""COCO records: every field of every record checked, errors naming file, index and problem
(issue 10, defect 1 and the unclear COCO errors), with property-based fuzzing."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relnet_dedup.io.coco import (
    check_coco_annotation,
    check_coco_dataset,
    check_coco_detection,
    read_json,
    xywh_to_xyxy,
)

GOOD = {"image_id": 0, "category_id": 1, "bbox": [10.0, 20.0, 30.0, 40.0], "score": 0.9}
GT = {
    "images": [{"id": 0, "width": 100, "height": 100}, {"id": 1, "width": 100, "height": 100}],
    "annotations": [
        {"id": 1, "image_id": 0, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0}
    ],
    "categories": [{"id": 1, "name": "a"}],
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"bbox": [10, 20, 30]}, r"bbox must be 4 numbers \[x, y, w, h\], got 3: \[10, 20, 30\]"),
        ({"bbox": [10, 20, 30, 40, 50]}, r"bbox must be 4 numbers .* got 5"),
        ({"bbox": [10, 20, -30, 40]}, r"bbox width and height must be >= 0"),
        ({"bbox": [10, 20, 30, -1e-3]}, r"bbox width and height must be >= 0"),
        ({"bbox": [10, 20, math.inf, 40]}, r"bbox must be finite"),
        ({"bbox": [10, math.nan, 30, 40]}, r"bbox must be finite"),
        ({"bbox": [10, "20", 30, 40]}, r"bbox\[1\] must be a number, got '20'"),
        ({"bbox": [10, True, 30, 40]}, r"bbox\[1\] must be a number, got True"),
        ({"bbox": "10 20 30 40"}, r"bbox must be 4 numbers"),
        ({"bbox": None}, r"bbox must be 4 numbers .* got None"),
        ({"category_id": 1.7}, r"category_id must be an integer, got 1.7"),
        ({"category_id": "1"}, r"category_id must be an integer, got '1'"),
        ({"category_id": True}, r"category_id must be an integer, got True"),
        ({"image_id": 0.5}, r"image_id must be an integer, got 0.5"),
        ({"image_id": None}, r"image_id must be an integer, got None"),
        ({"score": math.nan}, r"score must be a finite number in \[0, 1\], got nan"),
        ({"score": 1.5}, r"score must be a finite number in \[0, 1\], got 1.5"),
        ({"score": -0.1}, r"score must be a finite number in \[0, 1\], got -0.1"),
        ({"score": "0.9"}, r"score must be a number, got '0.9'"),
    ],
)
def test_defect1_bad_fields(change: dict[str, Any], problem: str) -> None:
    """Issue 10, defect 1: a 3-number bbox became a wrong box, negative widths inverted boxes,
    1.7 was truncated to 1."""
    with pytest.raises(ValueError, match=rf"^raw\.json: detection 7: {problem}"):
        check_coco_detection({**GOOD, **change}, 7, "raw.json")


@pytest.mark.parametrize("key", ["image_id", "category_id", "bbox", "score"])
def test_defect1_missing_keys(key: str) -> None:
    """Issue 10, defect 1: a bare KeyError before."""
    record = {k: v for k, v in GOOD.items() if k != key}
    with pytest.raises(ValueError, match=rf"^raw\.json: detection 3 has no '{key}'$"):
        check_coco_detection(record, 3, "raw.json")
    with pytest.raises(ValueError, match=r"has no 'image_id', 'score'"):
        check_coco_detection({"bbox": [0, 0, 1, 1], "category_id": 1}, 3, "raw.json")


def test_not_a_dict() -> None:
    with pytest.raises(ValueError, match=r"^raw\.json: detection 0 must be a dict, got list"):
        check_coco_detection([0, 1, [1, 2, 3, 4], 0.5], 0, "raw.json")


def test_normalised_fields() -> None:
    out = check_coco_detection({**GOOD, "category_id": 3.0, "bbox": [1, 2, 0, 0], "x": 1}, 0, "f")
    assert out == {
        "image_id": 0,
        "category_id": 3,
        "bbox": [1.0, 2.0, 0.0, 0.0],
        "score": 0.9,
        "x": 1,
    }
    assert type(out["category_id"]) is int
    assert all(type(v) is float for v in out["bbox"])


def test_annotations_and_datasets() -> None:
    ann = {"id": 5, "image_id": 1, "category_id": 2, "bbox": [0, 0, 3, 4], "iscrowd": 1}
    assert check_coco_annotation(ann, 0, "gt.json")["iscrowd"] == 1
    for change, problem in [
        ({"iscrowd": 2}, r"iscrowd must be 0 or 1, got 2"),
        ({"id": 1.5}, r"id must be an integer, got 1.5"),
        ({"bbox": [0, 0, 3]}, r"bbox must be 4 numbers"),
        ({"area": -1}, r"area must be a finite number >= 0, got -1"),
    ]:
        with pytest.raises(ValueError, match=rf"^gt\.json: annotation 4: {problem}"):
            check_coco_annotation({**ann, **change}, 4, "gt.json")
    with pytest.raises(ValueError, match=r"^gt\.json: annotation 0 has no 'image_id'$"):
        check_coco_annotation({"id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, 0, "gt.json")
    assert check_coco_dataset(GT, "gt.json")["annotations"][0]["bbox"] == [10.0, 20.0, 30.0, 40.0]
    for data, problem in [
        ([], r"gt\.json must hold a COCO dataset \(a dict\), got list"),
        ({"annotations": []}, r"gt\.json has no 'images' list"),
        ({"images": {}}, r"gt\.json: 'images' must be a list, got dict"),
        ({"images": [{"width": 3}]}, r"gt\.json: image 0 must be a dict with an 'id'"),
        ({"images": [{"id": "a"}]}, r"gt\.json: image 0: id must be an integer, got 'a'"),
        ({"images": [], "categories": [{"id": 1.5}]}, r"gt\.json: category 0: id must be"),
    ]:
        with pytest.raises(ValueError, match=problem):
            check_coco_dataset(data, "gt.json")


def test_read_json_names_the_file(tmp_path: Path) -> None:
    """Issue 10, defect 1: a results file that is not JSON raised JSONDecodeError without it."""
    path = tmp_path / "raw.json"
    path.write_text('[{"image_id": 0,\n "bbox": [1, 2, 3, 4] oops}]')
    with pytest.raises(ValueError, match=r"raw\.json is not valid JSON: .* line 2, column"):
        read_json(path)
    path.write_bytes(b"\xff\xfe[1, 2]")
    with pytest.raises(ValueError, match=r"raw\.json is not a UTF-8 text file"):
        read_json(path)
    with pytest.raises(FileNotFoundError, match=r"no file at .*none\.json"):
        read_json(tmp_path / "none.json")
    with pytest.raises(ValueError, match=r"cannot read .*"):
        read_json(tmp_path)
    path.write_text("[" * 100_000)
    with pytest.raises(ValueError, match=r"raw\.json is not valid JSON"):
        read_json(path)
    path.write_text('{"a": [1, 2.5, null]}')
    assert read_json(path) == {"a": [1, 2.5, None]}


def test_xywh_to_xyxy_checks_its_shape() -> None:
    """Issue 10, unclear error: a 5-number box failed with a broadcasting error inside it."""
    with pytest.raises(ValueError, match=r"boxes must have shape \[\*, 4\], got \(2, 5\)"):
        xywh_to_xyxy(torch.zeros(2, 5))
    out = xywh_to_xyxy(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    assert out.tolist() == [[1.0, 2.0, 4.0, 6.0]]


pycocotools = pytest.importorskip("pycocotools")
from relnet_dedup import evaluate_coco, load_coco_detections  # noqa: E402


def write(tmp_path: Path, records: object, name: str = "raw.json") -> tuple[Path, Path]:
    gt_path, res_path = tmp_path / "gt.json", tmp_path / name
    gt_path.write_text(json.dumps(GT))
    res_path.write_text(json.dumps(records))
    return res_path, gt_path


def test_defect1_load_coco_detections_names_file_index_and_problem(tmp_path: Path) -> None:
    res, gt = write(tmp_path, [GOOD, GOOD, {**GOOD, "bbox": [10, 20, 30]}])
    with pytest.raises(ValueError, match=r"raw\.json: detection 2: bbox must be 4 numbers"):
        load_coco_detections(res, gt)
    res.write_text("not json")
    with pytest.raises(ValueError, match=r"raw\.json is not valid JSON"):
        load_coco_detections(res, gt)
    res.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match=r"raw\.json must hold a list of detections, got dict"):
        load_coco_detections(res, gt)
    res.write_text(json.dumps([GOOD, {**GOOD, "image_id": 7}]))
    with pytest.raises(ValueError, match=r"raw\.json: detection 1: image_id 7 is not an image"):
        load_coco_detections(res, gt)
    res.write_text(json.dumps([{**GOOD, "category_id": 2.0}]))
    assert load_coco_detections(res, gt)[0].labels.tolist() == [2]


def test_bad_ground_truth_file_is_named(tmp_path: Path) -> None:
    res, gt = write(tmp_path, [GOOD])
    gt.write_text("{")
    with pytest.raises(ValueError, match=r"gt\.json is not valid JSON"):
        load_coco_detections(res, gt)
    bad = {**GT, "annotations": [{**GT["annotations"][0], "bbox": [1, 2, 3]}]}  # type: ignore[dict-item]
    gt.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"gt\.json: annotation 0: bbox must be 4 numbers"):
        load_coco_detections(res, gt)


def test_evaluate_coco_results_are_checked() -> None:
    """Issue 10, unclear error: results without score raised a KeyError from pycocotools."""
    no_score = {k: v for k, v in GOOD.items() if k != "score"}
    with pytest.raises(ValueError, match=r"^results: detection 1 has no 'score'$"):
        evaluate_coco(GT, [GOOD, no_score])
    with pytest.raises(ValueError, match=r"results: detection 0: image_id 9 is not an image"):
        evaluate_coco(GT, [{**GOOD, "image_id": 9}])
    with pytest.raises(ValueError, match=r"results must be a list of dicts, got str"):
        evaluate_coco(GT, "results.json")  # type: ignore[arg-type]
    assert evaluate_coco(GT, [GOOD])[1] == pytest.approx(1.0)


# ---- property-based fuzzing -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=3), children)
    ),
    max_leaves=8,
)

CORRUPTIONS: dict[str, Any] = {
    "drop": None,
    "bbox": st.one_of(
        st.lists(st.floats(-50, 50), min_size=0, max_size=8).filter(lambda b: len(b) != 4),
        st.tuples(
            st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, -1e-3), st.floats(0, 50)
        ).map(list),
        st.lists(st.sampled_from([math.nan, math.inf, -math.inf]), min_size=4, max_size=4),
        json_values.filter(lambda v: not isinstance(v, list)),
    ),
    "category_id": st.one_of(
        st.floats(allow_nan=True).filter(lambda v: not (math.isfinite(v) and v.is_integer())),
        st.text(max_size=3),
        st.booleans(),
        st.none(),
    ),
    "image_id": st.one_of(st.floats(0.01, 0.99), st.text(max_size=3), st.none(), st.booleans()),
    "score": st.one_of(
        st.floats().filter(lambda v: not 0.0 <= v <= 1.0), st.text(max_size=3), st.none()
    ),
}


def outcome(call: Callable[[], Any]) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(None, message)`` when the call raises ``ValueError``."""
    try:
        return call(), None
    except ValueError as err:
        return None, str(err)


@st.composite
def malformed_files(draw: st.DrawFn) -> tuple[list[Any], int]:
    """A list of valid records with one broken at a random index."""
    n = draw(st.integers(1, 6))
    records: list[Any] = [
        {**GOOD, "score": draw(st.floats(0, 1)), "image_id": draw(st.sampled_from([0, 1]))}
        for _ in range(n)
    ]
    index = draw(st.integers(0, n - 1))
    field = draw(st.sampled_from([*CORRUPTIONS, "not a dict"]))
    if field == "not a dict":
        records[index] = draw(json_values.filter(lambda v: not isinstance(v, dict)))
    elif field == "drop":
        key = draw(st.sampled_from(sorted(GOOD)))
        del records[index][key]
    else:
        records[index][field] = draw(CORRUPTIONS[field])
    return records, index


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=malformed_files())
def test_fuzz_malformed_records_name_file_and_index(
    tmp_path: Path, case: tuple[list[Any], int]
) -> None:
    records, index = case
    res, gt = write(tmp_path, records, name="fuzz_results.json")
    with pytest.raises(ValueError, match=rf"^.*fuzz_results\.json: detection {index}\b"):
        load_coco_detections(res, gt)


@settings(max_examples=80, deadline=None)
@given(record=json_values, index=st.integers(0, 10**6))
def test_fuzz_any_json_value_is_checked_or_normalised(record: Any, index: int) -> None:
    out, error = outcome(lambda: check_coco_detection(record, index, "any.json"))
    if error is not None:
        assert error.startswith(f"any.json: detection {index}")
    else:  # only a record with every field right gets here
        assert type(out["image_id"]) is int
        assert type(out["category_id"]) is int
        assert len(out["bbox"]) == 4
        assert all(math.isfinite(v) for v in out["bbox"])
        assert min(out["bbox"][2:]) >= 0
        assert 0.0 <= out["score"] <= 1.0


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_fuzz_random_file_content_names_the_file(tmp_path: Path, text: str) -> None:
    res, gt = write(tmp_path, [], name="garbage.json")
    res.write_text(text, encoding="utf-8")
    images, error = outcome(lambda: load_coco_detections(res, gt))
    if error is not None:
        assert "garbage.json" in error
    else:  # the text happened to be a JSON list of valid records, e.g. "[]"
        assert len(images) == 2
