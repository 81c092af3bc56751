"""``relnet_detector.export``: the traced detector (TorchScript, and ONNX run by onnxruntime)
gives the eager detector's detections on images of the built-in benchmark of other sizes than
the one it was traced on, on several images one after the other, and on an image with none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from detector_helpers import trained_model
from PIL import Image

from relnet_detector import RelationDetector
from relnet_detector.datasets.synthetic import SyntheticConfig, generate_synthetic
from relnet_detector.export import ExportableDetector, export_detector


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[torch.Tensor]:
    """Six val images of the built-in benchmark (each of its own size) and a blank one."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, SyntheticConfig(seed=1, train=2, val=6), workers=1)
    files = sorted((root / "images" / "val").glob("*.png"))
    pictures = [
        torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).float() / 255
        for f in files
    ]
    assert len({p.shape for p in pictures}) > 1  # sizes other than the traced one
    return [*pictures, torch.full((3, 120, 100), 0.5)]


@pytest.fixture(scope="module")
def model() -> RelationDetector:
    return trained_model("nms", steps=8)


def _eager(model: RelationDetector, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        (out,) = model([image])
    return out["boxes"], out["labels"], out["scores"]


def _check(expected: tuple[torch.Tensor, ...], got: tuple[torch.Tensor, ...]) -> None:
    boxes, labels, scores = got
    assert boxes.shape == expected[0].shape  # the same kept detections
    torch.testing.assert_close(boxes, expected[0], rtol=0, atol=1e-3)  # float32 pixels
    assert torch.equal(labels, expected[1])
    torch.testing.assert_close(scores, expected[2], rtol=0, atol=1e-5)


def test_torchscript_equals_eager(
    model: RelationDetector, images: list[torch.Tensor], tmp_path: Path
) -> None:
    path = export_detector(model, images[0], tmp_path / "detector.pt", "torchscript")
    traced = torch.jit.load(str(path))
    found = 0
    for image in images:
        expected = _eager(model, image)
        _check(expected, traced(image))
        found += len(expected[0])
    assert found > 0
    assert len(_eager(model, images[-1])[0]) == 0  # the blank image: no detection


def test_onnx_equals_eager_in_onnxruntime(
    model: RelationDetector, images: list[torch.Tensor], tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = export_detector(model, images[0], tmp_path / "detector.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    for image in images:
        got = tuple(torch.from_numpy(v) for v in session.run(None, {"image": image.numpy()}))
        _check(_eager(model, image), got)


def test_only_nms_and_known_formats_are_exported(model: RelationDetector, tmp_path: Path) -> None:
    learned = trained_model("e2e", steps=1)
    with pytest.raises(ValueError, match="'e2e'"):
        ExportableDetector(learned)
    with pytest.raises(ValueError, match="'tflite'"):
        export_detector(model, torch.rand(3, 64, 64), tmp_path / "x", "tflite")
