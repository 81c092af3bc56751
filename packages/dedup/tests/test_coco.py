"""COCO input and evaluation: fit_coco on generated files, evaluate_coco, the missing extra."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from relnet_dedup import (
    DedupConfig,
    SyntheticConfig,
    coco_ground_truth,
    coco_results,
    evaluate_coco,
    fit_coco,
    load_coco_detections,
    make_synthetic,
    to_coco_results,
)

pytest.importorskip("pycocotools")

DATA = SyntheticConfig(
    num_classes=3, classes_per_image=(1, 2), objects_per_class=(1, 2), duplicates=(2, 5)
)


def write_pair(tmp_path: Path, num_images: int = 4) -> tuple[Path, Path, list[dict[str, object]]]:
    images = make_synthetic(num_images, DATA, seed=5)
    gt = coco_ground_truth(images, DATA.num_classes, DATA.image_size)
    raw = [r for i in images for r in to_coco_results(i.image_id, i.boxes, i.scores, i.labels)]
    gt_path, res_path = tmp_path / "instances.json", tmp_path / "raw_detections.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(raw))
    return res_path, gt_path, raw


def test_load_round_trips_the_synthetic_images(tmp_path: Path) -> None:
    res_path, gt_path, _ = write_pair(tmp_path)
    loaded = load_coco_detections(res_path, gt_path)
    originals = make_synthetic(4, DATA, seed=5)
    assert [i.image_id for i in loaded] == [0, 1, 2, 3]
    for a, b in zip(loaded, originals, strict=True):
        torch.testing.assert_close(a.boxes, b.boxes, rtol=0, atol=1e-3)  # xywh -> xyxy
        torch.testing.assert_close(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels)
        torch.testing.assert_close(a.gt_boxes, b.gt_boxes, rtol=0, atol=1e-3)


def test_fit_coco_trains_from_files(tmp_path: Path) -> None:
    res_path, gt_path, _ = write_pair(tmp_path)
    config = DedupConfig(use_appearance=False, embed_dim=32, num_relations=4, key_dim=8, geo_dim=16)
    ckpt = tmp_path / "dedup.pt"
    result = fit_coco(res_path, gt_path, config, epochs=2, checkpoint=ckpt, verbose=False)
    assert len(result.history) == 2
    assert ckpt.is_file()


def test_unknown_image_in_results(tmp_path: Path) -> None:
    res_path, gt_path, raw = write_pair(tmp_path)
    res_path.write_text(json.dumps([*raw, {**raw[0], "image_id": 999}]))
    with pytest.raises(ValueError, match=r"detection .* image_id"):
        load_coco_detections(res_path, gt_path)


def test_evaluate_perfect_and_duplicated_detections() -> None:
    images = make_synthetic(3, DATA, seed=6)
    gt = coco_ground_truth(images, DATA.num_classes, DATA.image_size)

    def perfect(image: object) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.arange(0), torch.zeros(0)

    exact = [
        r
        for i in images
        for r in to_coco_results(i.image_id, i.gt_boxes, torch.ones(len(i.gt_boxes)), i.gt_labels)
    ]
    stats = evaluate_coco(gt, exact)
    assert len(stats) == 12
    assert stats[0] == pytest.approx(1.0)
    assert stats[1] == pytest.approx(1.0)
    raw = coco_results(images, lambda i: (torch.arange(len(i.scores)), i.scores))
    assert evaluate_coco(gt, raw)[0] < 0.9  # duplicates cost precision
    assert all(sum(r["image_id"] == i.image_id for r in raw) <= 100 for i in images)
    assert evaluate_coco(gt, coco_results(images, perfect)) == [0.0] * 12


def test_missing_pycocotools_names_the_extra(hide_imports: Callable[[str], None]) -> None:
    hide_imports("pycocotools")
    with pytest.raises(ImportError, match=r"relnet-dedup\[coco\]"):
        evaluate_coco({"images": [], "annotations": [], "categories": []}, [])
