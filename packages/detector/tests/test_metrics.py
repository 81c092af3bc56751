"""Crowd members found from the ground truth, and the crowd numbers against hand-counted cases;
the oracle remover on constructed detections whose answer is known."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math

import pytest
import torch
from detector_helpers import model_config
from pycocotools.coco import COCO

from relnet_detector import RawDetections, RemoverConfig, build_detector, remove_duplicates
from relnet_detector.evaluation.metrics import coco_metrics, find_crowds
from relnet_detector.modeling.removers import GroundTruth


def ground_truth(images: dict[int, list[tuple[int, list[float]]]]) -> COCO:
    """A COCO object from ``{image_id: [(category_id, [x, y, w, h]), ...]}``."""
    anns, next_id = [], 1
    for image_id, objects in images.items():
        for category, bbox in objects:
            anns.append(
                {
                    "id": next_id,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
            next_id += 1
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i, "width": 100, "height": 100} for i in images],
        "annotations": anns,
        "categories": [{"id": 3, "name": "a"}, {"id": 8, "name": "b"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


# image 1: a crowd pair of class 3 at IoU 0.5 (ids 1, 2) and a lone class-8 box over it (3);
# image 2: two class-3 boxes at IoU 1/3 (4, 5): not a crowd; image 3: empty
SCENES = {
    1: [(3, [0.0, 0.0, 30.0, 20.0]), (3, [10.0, 0.0, 30.0, 20.0]), (8, [5.0, 0.0, 30.0, 20.0])],
    2: [(3, [0.0, 50.0, 20.0, 20.0]), (3, [10.0, 50.0, 20.0, 20.0])],
    3: [],
}


def test_crowds_are_same_class_pairs_from_iou_04() -> None:
    crowds = find_crowds(ground_truth(SCENES))
    assert crowds.members == {1, 2}  # the class-8 box overlaps them more, but is another class
    assert crowds.images == {1}
    assert find_crowds(ground_truth(SCENES), iou=0.3).members == {1, 2, 4, 5}


def result(image_id: int, category: int, bbox: list[float], score: float) -> dict:
    return {"image_id": image_id, "category_id": category, "bbox": bbox, "score": score}


def test_crowd_recall_counts_members_found() -> None:
    coco = ground_truth(SCENES)
    results = [
        result(1, 3, [0.0, 0.0, 30.0, 20.0], 0.9),  # member 1, exact
        result(1, 3, [10.0, 0.0, 21.0, 20.0], 0.8),  # member 2 at IoU 0.7: found at .5, not .75
        result(1, 8, [5.0, 0.0, 30.0, 20.0], 0.7),
        result(2, 3, [0.0, 50.0, 20.0, 20.0], 0.6),
    ]
    metrics = coco_metrics(coco, results, [1, 2, 3])
    assert metrics.crowd["crowd_recall50"] == pytest.approx(1.0)
    assert metrics.crowd["crowd_recall75"] == pytest.approx(0.5)
    # crowd scenes are image 1 alone, whose three objects are found at IoU 0.5
    assert metrics.crowd["crowd_AP50"] == pytest.approx(1.0)
    assert set(metrics.per_category) == {3, 8}
    assert metrics.per_category[8] == pytest.approx(1.0)
    lost = coco_metrics(coco, results[1:], [1, 2, 3])  # member 1 missed
    assert lost.crowd["crowd_recall50"] == pytest.approx(0.5)


def test_without_crowds_the_crowd_numbers_are_nan() -> None:
    coco = ground_truth(SCENES)
    metrics = coco_metrics(coco, [result(2, 3, [0.0, 50.0, 20.0, 20.0], 0.6)], [2, 3])
    assert all(math.isnan(v) for v in metrics.crowd.values())
    empty = coco_metrics(coco, [], [1, 2])
    assert empty.stats["AP"] == 0.0
    assert empty.crowd["crowd_recall50"] == 0.0


def raw_with_duplicates() -> tuple[RawDetections, GroundTruth]:
    """Two ground truths of class 1 and one of class 2, each with a cluster of jittered
    duplicates (the exact box among them at a low score) and background boxes."""
    gen = torch.Generator().manual_seed(0)
    gt_boxes = torch.tensor([[10.0, 10.0, 40.0, 40.0], [25.0, 10.0, 55.0, 40.0], [60, 60, 90, 80]])
    gt_labels = torch.tensor([1, 1, 2])
    boxes, labels = [], []
    for box, label in zip(gt_boxes, gt_labels, strict=True):
        boxes += [box[None], box + torch.randn(6, 4, generator=gen) * 1.5]
        labels += [label.repeat(7)]
    boxes.append(torch.tensor([[0.0, 70.0, 10.0, 90.0], [70.0, 0.0, 90.0, 10.0]]))
    labels.append(torch.tensor([1, 2]))
    flat = torch.cat(boxes)  # [23, 4]
    scores = torch.rand(flat.shape[0], generator=gen) * 0.5 + 0.4
    scores[[0, 7, 14]] = 0.3  # the exact boxes score below their duplicates
    raw = RawDetections(flat, scores, torch.cat(labels), torch.zeros(23, dtype=torch.long),
                        torch.zeros(1, 4))  # fmt: skip
    return raw, GroundTruth(gt_boxes, gt_labels)


def test_the_oracle_keeps_exactly_each_ground_truths_best_box() -> None:
    raw, truth = raw_with_duplicates()
    out = remove_duplicates(raw, RemoverConfig(method="oracle"), ground_truth=truth)
    assert sorted(map(tuple, out["boxes"].tolist())) == sorted(map(tuple, truth.boxes.tolist()))
    assert out["scores"].tolist() == pytest.approx([0.3, 0.3, 0.3])
    assert sorted(out["labels"].tolist()) == [1, 1, 2]


def test_the_oracle_needs_the_ground_truth() -> None:
    raw, _ = raw_with_duplicates()
    with pytest.raises(ValueError, match="ground truth"):
        remove_duplicates(raw, RemoverConfig(method="oracle"))


def test_a_model_never_runs_the_oracle() -> None:
    config = model_config("nms")
    with pytest.raises(ValueError, match="evaluation only"):
        build_detector(dataclasses.replace(config, remover=RemoverConfig(method="oracle")), 3)
    model = build_detector(config, 3)
    with pytest.raises(ValueError, match="evaluation only"):
        model.set_remover(RemoverConfig(method="oracle"))


def test_per_category_ap_equals_cocoeval_on_that_category_alone() -> None:
    """AP, AP50 and AP75 per category are what pycocotools gives with ``params.catIds`` set to
    the one category: the slow reference."""
    from pycocotools.cocoeval import COCOeval

    coco = ground_truth(SCENES)
    g = torch.Generator().manual_seed(0)
    results = []
    for image_id, objects in SCENES.items():
        for category, (x, y, w, h) in objects:
            for _ in range(3):  # a near box, a loose one, a far one per object
                dx, dy = (torch.rand(2, generator=g) * 8 - 4).tolist()
                score = float(torch.rand(1, generator=g))
                results.append(
                    {"image_id": image_id, "category_id": category, "score": score,
                     "bbox": [x + dx, y + dy, w, h]}
                )  # fmt: skip
    metrics = coco_metrics(coco, results, list(SCENES))
    for category in (3, 8):
        with contextlib.redirect_stdout(io.StringIO()):
            reference = COCOeval(coco, coco.loadRes(results), "bbox")
            reference.params.imgIds = sorted(SCENES)
            reference.params.catIds = [category]
            reference.evaluate()
            reference.accumulate()
            reference.summarize()
        assert metrics.per_category[category] == pytest.approx(reference.stats[0], abs=1e-12)
        assert metrics.per_category50[category] == pytest.approx(reference.stats[1], abs=1e-12)
        assert metrics.per_category75[category] == pytest.approx(reference.stats[2], abs=1e-12)
    assert metrics.per_category50[3] != metrics.per_category75[3]  # the case tells them apart


def test_the_confusion_matrix_counts_a_constructed_case() -> None:
    """Image 1: its class-3 pair found once as 3 and once as 8, the class-8 box missed; a
    detection far from everything (background); a low score ignored. Image 2: one class-3 box
    found, one missed. Image 3: a detection on an empty image (background)."""
    from relnet_detector.evaluation import confusion_matrix

    def det(image_id: int, category: int, bbox: list[float], score: float) -> dict[str, object]:
        return {"image_id": image_id, "category_id": category, "bbox": bbox, "score": score}

    results = [
        det(1, 3, [0.0, 0.0, 30.0, 20.0], 0.9),  # gt 1 (class 3) as 3
        det(1, 8, [10.0, 0.0, 30.0, 20.0], 0.8),  # gt 2 (class 3, IoU 1 here) as 8
        det(1, 3, [70.0, 70.0, 10.0, 10.0], 0.7),  # nothing there: background
        det(1, 8, [5.0, 0.0, 30.0, 20.0], 0.1),  # below the score threshold
        det(2, 3, [0.0, 50.0, 20.0, 20.0], 0.6),  # gt 4 as 3; gt 5 missed (IoU 1/3)
        det(3, 8, [0.0, 0.0, 10.0, 10.0], 0.9),  # empty image: background
    ]
    matrix = confusion_matrix(ground_truth(SCENES), results, list(SCENES), score_threshold=0.5)
    assert matrix.category_ids == (3, 8)
    # rows: gt 3, gt 8, background; columns: as 3, as 8, missed
    assert matrix.counts.tolist() == [[2, 1, 1], [0, 0, 1], [1, 1, 0]]


def test_precision_recall_curves_are_cocoeval_s_and_average_to_ap50() -> None:
    from relnet_detector.evaluation import precision_recall, run_cocoeval

    coco = ground_truth(SCENES)
    results = [
        {"image_id": 1, "category_id": 3, "bbox": [0.0, 0.0, 30.0, 20.0], "score": 0.9},
        {"image_id": 2, "category_id": 3, "bbox": [40.0, 40.0, 5.0, 5.0], "score": 0.8},
        {"image_id": 2, "category_id": 3, "bbox": [10.0, 50.0, 20.0, 20.0], "score": 0.7},
        {"image_id": 1, "category_id": 8, "bbox": [5.0, 0.0, 30.0, 20.0], "score": 0.6},
    ]
    evaluator = run_cocoeval(coco, results, sorted(SCENES))
    curves = precision_recall(evaluator, iou=0.5)
    recall, precision = curves[3]
    assert recall[0] == 0.0
    assert max(recall) == pytest.approx(0.5)  # 2 of its 4 boxes found
    assert precision[0] == pytest.approx(1.0)
    assert precision[-1] == pytest.approx(2 / 3)  # the second hit after one false positive
    assert len(recall) == 51  # recall thresholds 0, 0.01, ..., 0.5
    metrics = coco_metrics(coco, results, sorted(SCENES))
    padded = precision + [0.0] * (101 - len(precision))  # COCOeval counts unreached recall as 0
    assert sum(padded) / 101 == pytest.approx(metrics.per_category50[3])
    assert curves[8][0] == pytest.approx([r / 100 for r in range(101)])  # found, IoU 1, alone
    assert curves[8][1] == pytest.approx([1.0] * 101)
