"""COCO evaluation: the network once, every remover on its raw output, equal to running the model
with each remover; results files with the dataset's category ids; the 12 COCOeval numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import write_coco_folder
from detector_helpers import model_config
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from relnet_detector import RelationDetector, build_detector
from relnet_detector.config import RemoverConfig
from relnet_detector.datasets import CocoFolder
from relnet_detector.evaluation.evaluate import STAT_NAMES, coco_detections, coco_stats, evaluate

CATEGORY_IDS = (7, 3, 42)  # not contiguous, not from 1: labels 1, 2, 3 are ids 3, 7, 42
REMOVERS = [
    RemoverConfig(method="nms", score_threshold=0.05),
    RemoverConfig(method="soft-nms", score_threshold=0.05),
    RemoverConfig(method="e2e", score_threshold=0.01, first_n=8),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coco")
    return write_coco_folder(
        root, num_images=5, size=(64, 48), category_ids=CATEGORY_IDS, split="val", subfolder=""
    )


@pytest.fixture(scope="module")
def trained(folder: Path) -> RelationDetector:
    """A tiny e2e detector trained a few steps on the folder's images."""
    data = CocoFolder(folder, "val")
    items = [data[i] for i in range(len(data))]
    images = [image.as_subclass(torch.Tensor) for image, _ in items]  # type: ignore[index]
    targets = [
        {"boxes": t["boxes"].as_subclass(torch.Tensor), "labels": t["labels"]}
        for _, t in items  # type: ignore[misc]
    ]
    torch.manual_seed(0)
    model = build_detector(model_config("e2e"), data.categories.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    for _ in range(4):
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
    return model.eval()


def test_rows_stats_and_times(trained: RelationDetector, folder: Path, tmp_path: Path) -> None:
    data = CocoFolder(folder, "val")
    result = evaluate(trained, data, REMOVERS, out_dir=tmp_path, progress=False)
    assert [r.name for r in result.rows] == ["nms-0.5", "soft-nms-0.5", "e2e"]
    assert result.images == 5
    for row in result.rows:
        assert list(row.stats) == list(STAT_NAMES)
        assert all(-1.0 <= v <= 1.0 for v in row.stats.values())
        assert row.network_ms > 0
        assert row.removal_ms > 0
        assert row.network_ms == result.rows[0].network_ms  # one network run, shared
        assert row.results_file == tmp_path / f"detections_{row.name}.json"
    plain = result.to_dict()
    json.dumps(plain)
    assert [r["name"] for r in plain["removers"]] == ["nms-0.5", "soft-nms-0.5", "e2e"]
    assert set(plain["removers"][0]["stats"]) == set(STAT_NAMES)
    assert trained.training is False


def test_results_equal_forward_with_each_remover(
    trained: RelationDetector, folder: Path, tmp_path: Path
) -> None:
    """Each remover's results file is what the model's own forward gives with that remover."""
    data = CocoFolder(folder, "val")
    result = evaluate(trained, data, REMOVERS, out_dir=tmp_path, progress=False)
    original = trained.remover
    try:
        for row in result.rows:
            written = json.loads(Path(str(row.results_file)).read_text())
            trained.set_remover(row.remover)
            expected: list[dict[str, Any]] = []
            with torch.no_grad():
                for i in range(len(data)):
                    image, target = data[i]  # type: ignore[misc]
                    (det,) = trained([image.as_subclass(torch.Tensor)])
                    expected += coco_detections(
                        int(target["image_id"]), det, data.categories.category_id
                    )
            assert written == expected, row.name
            assert len(written) == row.detections
            assert {d["category_id"] for d in written} <= set(CATEGORY_IDS)
    finally:
        trained.set_remover(original)


def test_results_file_round_trip(trained: RelationDetector, folder: Path, tmp_path: Path) -> None:
    """pycocotools reads the results file back against the dataset's own annotation file and
    gives the same numbers."""
    data = CocoFolder(folder, "val")
    result = evaluate(trained, data, REMOVERS[:1], out_dir=tmp_path, progress=False)
    row = result.rows[0]
    gt = COCO(str(folder / "annotations" / "instances_val.json"))
    dets = gt.loadRes(str(row.results_file))
    evaluator = COCOeval(gt, dets, "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats.tolist() == pytest.approx(list(row.stats.values()))


def test_perfect_detections_score_one(folder: Path) -> None:
    """The category ids written are the dataset's: its own boxes as detections give AP 1."""
    data = CocoFolder(folder, "val")
    results = []
    for i in range(len(data)):
        _, target = data[i]  # type: ignore[misc]
        det = {
            "boxes": target["boxes"].as_subclass(torch.Tensor),
            "labels": target["labels"],
            "scores": torch.ones(len(target["labels"])),
        }
        results += coco_detections(int(target["image_id"]), det, data.categories.category_id)
    stats = coco_stats(data.coco, results, data.image_ids)
    assert stats["AP"] == pytest.approx(1.0)
    assert stats["AP50"] == pytest.approx(1.0)


class Bare:
    """A dataset with only what evaluate needs: items and ``.coco`` (no category map)."""

    def __init__(self, data: CocoFolder) -> None:
        self.data, self.coco = data, data.coco

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        return None if index == 1 else self.data[index]  # image 1 "failed to decode"


def test_label_to_category_sequence_and_skipped_items(
    trained: RelationDetector, folder: Path
) -> None:
    data = CocoFolder(folder, "val")
    bare = Bare(data)
    with pytest.raises(ValueError, match="categories"):
        evaluate(trained, bare, REMOVERS[:1], progress=False)  # type: ignore[arg-type]
    ids = list(data.categories.dataset_ids)
    result = evaluate(trained, bare, REMOVERS[:1], categories=ids, progress=True)  # type: ignore[arg-type]
    assert result.images == 4
    assert result.skipped == 1
    reference = evaluate(trained, data, REMOVERS[:1], progress=False)
    assert result.rows[0].detections <= reference.rows[0].detections  # a subset of the images


def test_bad_arguments(trained: RelationDetector, folder: Path) -> None:
    data = CocoFolder(folder, "val")
    with pytest.raises(ValueError, match="removers"):
        evaluate(trained, data, [], progress=False)
    untrained = build_detector(model_config("nms"), 3)
    with pytest.raises(ValueError, match="e2e"):
        evaluate(untrained, data, [RemoverConfig(method="e2e")], progress=False)
    with pytest.raises(ValueError, match="categories"):
        evaluate(trained, data, REMOVERS[:1], categories="3,7,42", progress=False)


def test_no_detections_gives_zeros(folder: Path) -> None:
    data = CocoFolder(folder, "val")
    assert coco_stats(data.coco, [], data.image_ids) == dict.fromkeys(STAT_NAMES, 0.0)
