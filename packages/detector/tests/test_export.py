"""``relnet_detector.export``: the traced detector (TorchScript, and ONNX run by onnxruntime)
gives the eager detector's detections on images of the built-in benchmark of other sizes than
the one it was traced on, on several images one after the other, and on an image with none;
with NMS, the separately learned remover and the end-to-end one."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from detector_helpers import trained_model
from PIL import Image

from relnet_dedup import DedupConfig, build_dedup_network, save_checkpoint
from relnet_detector import RelationDetector
from relnet_detector.datasets.synthetic import SyntheticConfig, generate_synthetic
from relnet_detector.export import ExportableDetector, export_detector

REMOVERS = ("nms", "learned", "e2e")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[torch.Tensor]:
    """Six val images of the built-in benchmark (each of its own size), a grey and a white one
    (each model finds nothing in one of them)."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, SyntheticConfig(seed=1, train=2, val=6), workers=1)
    files = sorted((root / "images" / "val").glob("*.png"))
    pictures = [
        torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).float() / 255
        for f in files
    ]
    assert len({p.shape for p in pictures}) > 1  # sizes other than the traced one
    return [*pictures, torch.full((3, 120, 100), 0.5), torch.ones(3, 120, 100)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RelationDetector]:
    """A detector with each remover: NMS; the same with a (random) separately learned network;
    one trained end to end."""
    nms = trained_model("nms", steps=8)
    learned = copy.deepcopy(nms)
    torch.manual_seed(2)
    network = build_dedup_network(
        DedupConfig(feat_dim=nms.box_head.out_dim, embed_dim=32, num_relations=4, key_dim=8)
    )
    path = save_checkpoint(network, tmp_path_factory.mktemp("dedup") / "dedup.pt")
    learned.set_remover(
        dataclasses.replace(nms.remover, method="learned", checkpoint=str(path), first_n=40)
    )
    return {"nms": nms, "learned": learned, "e2e": trained_model("e2e", steps=12)}


def _eager(model: RelationDetector, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        (out,) = model([image])
    return out["boxes"], out["labels"], out["scores"]


# The learned removers' scores s0 * s1 are within 1.4e-5 of eager in onnxruntime: the geometry's
# log(|cx_i - cx_j| / w_i) of two boxes of one class whose centres lie 0.01 px apart (two RoIs
# regressed onto one object) turns float32 rounding of the boxes into 1e-3 of a logit.
SCORE_ATOL = {"nms": 1e-5, "learned": 1e-4, "e2e": 1e-4}


def _check(
    expected: tuple[torch.Tensor, ...], got: tuple[torch.Tensor, ...], score_atol: float
) -> None:
    """The same kept detections: boxes within float32 pixels, the same labels, scores within
    ``score_atol``; in the same order up to detections whose scores are that close."""
    boxes, labels, scores = got
    assert boxes.shape == expected[0].shape
    torch.testing.assert_close(scores, expected[2], rtol=0, atol=score_atol)
    if len(scores) == 0:
        return
    # each eager detection's exported twin: its label, its box, its score
    distance = (boxes[None, :] - expected[0][:, None]).abs().amax(dim=-1)  # [K, K]
    distance += (labels[None, :] != expected[1][:, None]) * 1e9
    distance += (scores[None, :] - expected[2][:, None]).abs() / score_atol
    twin = distance.argmin(dim=1)  # [K]
    assert torch.equal(twin.sort().values, torch.arange(len(twin)))  # one-to-one
    torch.testing.assert_close(boxes[twin], expected[0], rtol=0, atol=1e-3)
    assert torch.equal(labels[twin], expected[1])
    swapped = twin != torch.arange(len(twin))
    torch.testing.assert_close(scores[swapped], expected[2][swapped], rtol=0, atol=score_atol)


@pytest.mark.parametrize("remover", REMOVERS)
def test_torchscript_equals_eager(
    models: dict[str, RelationDetector], remover: str, images: list[torch.Tensor], tmp_path: Path
) -> None:
    model = models[remover]
    path = export_detector(model, images[0], tmp_path / "detector.pt", "torchscript")
    traced = torch.jit.load(str(path))
    found = []
    for image in images:
        expected = _eager(model, image)
        _check(expected, traced(image), SCORE_ATOL[remover])
        found.append(len(expected[0]))
    assert max(found) > 0
    assert min(found) == 0  # an image with no detection


@pytest.mark.parametrize("remover", REMOVERS)
def test_onnx_equals_eager_in_onnxruntime(
    models: dict[str, RelationDetector], remover: str, images: list[torch.Tensor], tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = models[remover]
    path = export_detector(model, images[0], tmp_path / "detector.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    for image in images:
        got = tuple(torch.from_numpy(v) for v in session.run(None, {"image": image.numpy()}))
        _check(_eager(model, image), got, SCORE_ATOL[remover])


def test_soft_nms_and_unknown_formats_are_refused(
    models: dict[str, RelationDetector], tmp_path: Path
) -> None:
    soft = copy.deepcopy(models["nms"])
    soft.set_remover(dataclasses.replace(soft.remover, method="soft-nms"))
    with pytest.raises(ValueError, match="'soft-nms'"):
        ExportableDetector(soft)
    with pytest.raises(ValueError, match="'tflite'"):
        export_detector(models["nms"], torch.rand(3, 64, 64), tmp_path / "x", "tflite")


def test_export_is_quiet(
    models: dict[str, RelationDetector], images: list[torch.Tensor], tmp_path: Path
) -> None:
    """The tracer's notes on constants (checked above to hold) do not reach the user."""
    pytest.importorskip("onnx")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for format in ("torchscript", "onnx"):
            export_detector(models["learned"], images[0], tmp_path / f"d.{format}", format)
    assert [str(w.message) for w in caught] == []
