"""``relnet dedup fit|apply`` on the dedup package's synthetic detector output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_usage_error, assert_user_error, invoke
from typer.testing import CliRunner

from relnet_dedup import SyntheticConfig, coco_ground_truth, make_synthetic, to_coco_results


@pytest.fixture(scope="module")
def coco_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Raw detections and ground truth of 4 synthetic images with ids 0-3."""
    folder = tmp_path_factory.mktemp("dedup")
    images = make_synthetic(4, SyntheticConfig(), seed=0)
    gt = coco_ground_truth(images, num_classes=8, image_size=(640, 480))
    raw = [r for im in images for r in to_coco_results(im.image_id, im.boxes, im.scores, im.labels)]
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "raw.json").write_text(json.dumps(raw))
    return folder / "raw.json", folder / "gt.json"


@pytest.fixture(scope="module")
def model(coco_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw, gt = coco_files
    out = tmp_path_factory.mktemp("model") / "dedup.pt"
    args = ["--detections", raw, "--annotations", gt, "--out", out, "--epochs", "1"]
    result = invoke(CliRunner(), "dedup", "fit", *args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    return out


def test_fit_writes_a_loadable_checkpoint(model: Path) -> None:
    from relnet_dedup import load_checkpoint

    assert load_checkpoint(model).thresholds == (0.5, 0.6, 0.7, 0.8, 0.9)
    assert not [p for p in model.parent.iterdir() if p.name.endswith(".tmp")]


def test_apply_writes_coco_results(
    runner: CliRunner, model: Path, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, _ = coco_files
    out = tmp_path / "clean.json"
    result = invoke(runner, "dedup", "apply", model, "--detections", raw, "--out", out)
    assert result.exit_code == 0, result.output
    clean = json.loads(out.read_text())
    assert clean
    assert {r["image_id"] for r in clean} <= {0, 1, 2, 3}
    assert set(clean[0]) == {"image_id", "category_id", "bbox", "score"}
    assert len(clean) < len(json.loads(raw.read_text()))
    assert "COCOeval" not in result.stdout


def test_apply_with_ground_truth_compares_removers(
    runner: CliRunner, model: Path, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, gt = coco_files
    out = tmp_path / "clean.json"
    args = ["--detections", raw, "--out", out, "--annotations", gt]
    result = invoke(runner, "dedup", "apply", model, *args)
    assert result.exit_code == 0, result.output
    for row in ("NMS (IoU 0.5)", "Soft-NMS (sigma 0.5)", "learned"):
        assert row in result.stdout
    assert out.is_file()


def test_fit_missing_detections(runner: CliRunner, coco_files: tuple[Path, Path], tmp_path: Path):
    _, gt = coco_files
    missing = tmp_path / "nope.json"
    args = ["--detections", missing, "--annotations", gt, "--out", tmp_path / "m.pt"]
    assert_user_error(invoke(runner, "dedup", "fit", *args), str(missing), "does not exist")


def test_fit_output_folder_missing(
    runner: CliRunner, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, gt = coco_files
    out = tmp_path / "no" / "m.pt"
    result = invoke(runner, "dedup", "fit", "--detections", raw, "--annotations", gt, "--out", out)
    assert_user_error(result, str(out), "does not exist")


def test_fit_detections_not_json(
    runner: CliRunner, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, gt = coco_files
    bad = tmp_path / "raw.json"
    bad.write_text("not json")
    out = tmp_path / "m.pt"
    result = invoke(runner, "dedup", "fit", "--detections", bad, "--annotations", gt, "--out", out)
    assert_user_error(result)
    assert not out.exists()


def test_fit_annotations_a_directory(runner: CliRunner, coco_files: tuple[Path, Path], tmp_path):
    raw, _ = coco_files
    args = ["--detections", raw, "--annotations", tmp_path, "--out", tmp_path / "m.pt"]
    assert_user_error(invoke(runner, "dedup", "fit", *args), str(tmp_path), "directory")


def test_fit_needs_its_options(runner: CliRunner, coco_files: tuple[Path, Path]) -> None:
    raw, _ = coco_files
    assert_usage_error(invoke(runner, "dedup", "fit", "--detections", raw))
    assert_usage_error(invoke(runner, "dedup", "fit", "--epochs", "0"))


def test_apply_corrupt_checkpoint(
    runner: CliRunner, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, _ = coco_files
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "clean.json"
    result = invoke(runner, "dedup", "apply", bad, "--detections", raw, "--out", out)
    assert_user_error(result, str(bad))
    assert not out.exists()


def test_apply_detections_not_a_list(runner: CliRunner, model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "raw.json"
    bad.write_text('{"image_id": 1}')
    result = invoke(runner, "dedup", "apply", model, "--detections", bad, "--out", tmp_path / "o")
    assert_user_error(result, str(bad), "list")


def test_apply_unknown_eta(
    runner: CliRunner, model: Path, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, _ = coco_files
    args = ["--detections", raw, "--out", tmp_path / "o.json", "--eta", "0.55"]
    assert_user_error(invoke(runner, "dedup", "apply", model, *args), "0.55")


def test_dedup_commands_never_import_the_detector(
    model: Path, coco_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, _ = coco_files
    script = f"""
import sys
from typer.testing import CliRunner
from relnet_cli.main import app
args = ["dedup", "apply", {str(model)!r}, "--detections", {str(raw)!r}, "--out",
        {str(tmp_path / "o.json")!r}]
result = CliRunner().invoke(app, args)
assert result.exit_code == 0, result.output
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("relnet_detector", "relnet_heads"))
print("imported:", bad)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout


def test_ground_truth_with_duplicates_gives_map_one_after_nms(
    runner: CliRunner, model: Path, tmp_path: Path
) -> None:
    """Issue 17: a metric the answer of which is known. Every ground-truth box written as a
    detection, with a duplicate shifted by a pixel at a lower score: NMS (IoU 0.5) keeps exactly
    the ground truth, so COCOeval's mAP, mAP50 and mAP75 are 100."""
    images, anns, raw = [], [], []
    for image_id in range(3):
        images.append({"id": image_id, "width": 200, "height": 200, "file_name": f"{image_id}.png"})
        for k in range(4):
            box = [10.0 + 45 * k, 20.0 + 10 * image_id, 30.0, 40.0]  # apart: no IoU between them
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1 + k % 2,
                         "bbox": box, "area": 1200.0, "iscrowd": 0})  # fmt: skip
            raw.append({"image_id": image_id, "category_id": 1 + k % 2, "bbox": box, "score": 0.9})
            shifted = [box[0] + 1.0, box[1], box[2], box[3]]  # IoU 29/31 with its original
            raw.append({"image_id": image_id, "category_id": 1 + k % 2, "bbox": shifted,
                        "score": 0.6})  # fmt: skip
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    detections = tmp_path / "raw.json"
    detections.write_text(json.dumps(raw))
    args = ["--detections", detections, "--annotations", gt, "--out", tmp_path / "clean.json"]
    result = invoke(runner, "dedup", "apply", model, *args)
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.stdout.splitlines() if "NMS (IoU 0.5)" in line]
    assert row.split("│")[2:5] == [" 100.0 ", " 100.0 ", " 100.0 "], row
