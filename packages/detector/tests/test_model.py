"""The detector end to end: torchvision's contract in training and eval, the loss falls, eval
output is well formed in original image pixels, and bad input is named."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from detector_helpers import NUM_CLASSES, model_config, rectangles, train, trained_model

from relnet_detector import RelationDetector, build_detector, relation_weights
from relnet_detector.config import DetectorConfig, ModelConfig

LOSSES = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}


@pytest.mark.parametrize(("remover", "extra"), [("nms", set()), ("e2e", {"loss_dedup"})])
def test_training_returns_loss_dict(remover: str, extra: set[str]) -> None:
    torch.manual_seed(0)
    model = build_detector(model_config(remover), NUM_CLASSES)
    images, targets = rectangles(2)
    losses = model(images, targets)
    assert set(losses) == LOSSES | extra
    for name, value in losses.items():
        assert value.dim() == 0, name
        assert torch.isfinite(value), name
    sum(losses.values()).backward()


def test_loss_falls() -> None:
    torch.manual_seed(0)
    model = build_detector(model_config("e2e"), NUM_CLASSES)
    history = train(model, steps=16)
    assert sum(history[-4:]) / 4 < 0.85 * sum(history[:4]) / 4, history


def test_image_without_objects_trains() -> None:
    torch.manual_seed(0)
    model = build_detector(model_config("e2e"), NUM_CLASSES)
    images, targets = rectangles(2)
    targets[1] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    losses = model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_eval_output_well_formed(remover: str) -> None:
    model = trained_model(remover, steps=2)
    images = [torch.rand(3, 48, 80), torch.rand(3, 100, 60), torch.rand(3, 64, 64)]
    with torch.no_grad():
        out = model(images)
    assert len(out) == 3
    for image, det in zip(images, out, strict=True):
        assert set(det) == {"boxes", "labels", "scores"}
        k = det["scores"].shape[0]
        assert k <= model.remover.detections_per_img
        assert det["boxes"].shape == (k, 4)
        assert det["boxes"].dtype == torch.float32
        assert det["labels"].dtype == torch.int64
        assert det["labels"].shape == (k,)
        if k:
            h, w = image.shape[-2:]
            assert det["boxes"][:, 0::2].min() >= 0
            assert det["boxes"][:, 0::2].max() <= w + 1e-3
            assert det["boxes"][:, 1::2].max() <= h + 1e-3
            assert bool((det["boxes"][:, 2:] >= det["boxes"][:, :2]).all())
            assert det["labels"].min() >= 1
            assert det["labels"].max() <= NUM_CLASSES
            assert bool((det["scores"][:-1] >= det["scores"][1:]).all())
            assert float(det["scores"].min()) >= 0
            assert float(det["scores"].max()) <= 1


def test_detections_capped() -> None:
    """detections_per_img keeps the highest-scoring of what the uncapped remover keeps."""
    model = trained_model("nms", steps=1)
    image = [torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(3))]
    model.set_remover(dataclasses.replace(model.remover, score_threshold=0.0, nms_threshold=0.9))
    with torch.no_grad():
        uncapped = model(image)[0]
    assert uncapped["scores"].shape[0] > 3  # so that the cap has something to cut
    model.set_remover(dataclasses.replace(model.remover, detections_per_img=3))
    with torch.no_grad():
        capped = model(image)[0]
    assert capped["scores"].shape[0] == 3
    torch.testing.assert_close(capped["scores"], uncapped["scores"][:3])
    torch.testing.assert_close(capped["boxes"], uncapped["boxes"][:3])


def test_builds_every_preset_head_kind() -> None:
    config = model_config("nms")
    for kind in ("2fc", "3fc", "2fc+res", "2fc+rm"):
        head = dataclasses.replace(config.head, kind=kind)
        model = build_detector(dataclasses.replace(config, head=head), NUM_CLASSES)
        assert isinstance(model, RelationDetector)
        assert model.roi_heads.box_predictor.cls_score.out_features == NUM_CLASSES + 1


def test_tiny_preset_builds_and_runs() -> None:
    model = build_detector(DetectorConfig().model, 5).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 120, 160)])
    assert out[0]["boxes"].shape[1] == 4
    assert model.box_head.out_dim == 256
    assert model.roi_heads.dedup is not None


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"min_size": 0}, "min_size"),
        ({"max_size": 10}, "max_size"),
    ],
)
def test_bad_config_names_field(change: dict[str, object], name: str) -> None:
    config = dataclasses.replace(model_config("nms"), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        build_detector(config, NUM_CLASSES)


def test_anchor_sizes_must_match_levels() -> None:
    config = model_config("nms")
    config = dataclasses.replace(config, rpn=dataclasses.replace(config.rpn, anchor_sizes=(8, 16)))
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_detector(config, NUM_CLASSES)


@pytest.mark.parametrize("num_classes", [0, -1, True, 2.0])
def test_bad_num_classes(num_classes: object) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        build_detector(model_config("nms"), num_classes)  # type: ignore[arg-type]


def test_bad_config_type() -> None:
    with pytest.raises(ValueError, match="config"):
        build_detector(DetectorConfig(), NUM_CLASSES)  # type: ignore[arg-type]


def test_raw_detections_needs_eval_and_images() -> None:
    model = build_detector(model_config("nms"), NUM_CLASSES)
    with pytest.raises(ValueError, match="eval"):
        model.raw_detections([torch.rand(3, 64, 64)])
    model.eval()
    with pytest.raises(ValueError, match=r"images\[1\]"):
        model.raw_detections([torch.rand(3, 64, 64), torch.zeros(64, 64, dtype=torch.uint8)])
    with pytest.raises(ValueError, match="images"):
        model.raw_detections(torch.rand(2, 3, 64, 64))  # type: ignore[arg-type]


def test_model_config_is_kept() -> None:
    config = model_config("nms")
    model = build_detector(config, NUM_CLASSES)
    assert model.config == config
    assert model.num_classes == NUM_CLASSES
    assert isinstance(model.config, ModelConfig)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_cuda_placement(remover: str) -> None:
    torch.manual_seed(0)
    model = build_detector(model_config(remover), NUM_CLASSES).cuda()
    images, targets = rectangles(2)
    images = [i.cuda() for i in images]
    targets = [{k: v.cuda() for k, v in t.items()} for t in targets]
    losses = model(images, targets)
    assert all(v.device.type == "cuda" for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
        raw = model.raw_detections(images)
    assert all(v.device.type == "cuda" for det in out for v in det.values())
    assert raw[0].roi_features.device.type == "cuda"


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_cuda_values_match_the_cpu(remover: str) -> None:
    """The same trained weights give the same detections on CUDA as on the CPU (float32
    rounding apart; the kept set is compared where the scores are not within rounding)."""
    model = trained_model(remover, steps=3)
    images, _ = rectangles(2)
    with torch.no_grad():
        cpu_raw = model.raw_detections(images)
        cpu_out = model(images)
        model.cuda()
        gpu_raw = model.raw_detections([i.cuda() for i in images])
        gpu_out = model([i.cuda() for i in images])
    for c, g in zip(cpu_raw, gpu_raw, strict=True):
        torch.testing.assert_close(g.roi_features.cpu(), c.roi_features, rtol=1e-3, atol=1e-4)
        assert torch.equal(g.labels.cpu(), c.labels)
        torch.testing.assert_close(g.scores.cpu(), c.scores, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(g.boxes.cpu(), c.boxes, rtol=1e-3, atol=1e-2)
    for c, g in zip(cpu_out, gpu_out, strict=True):
        k = min(len(c["scores"]), len(g["scores"]), 5)  # the top detections: far from any tie
        torch.testing.assert_close(g["scores"][:k].cpu(), c["scores"][:k], rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(g["boxes"][:k].cpu(), c["boxes"][:k], rtol=1e-3, atol=1e-2)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_cuda_amp_forward(remover: str) -> None:
    torch.manual_seed(0)
    model = build_detector(model_config(remover), NUM_CLASSES).cuda()
    images, targets = rectangles(2)
    images = [i.cuda() for i in images]
    targets = [{k: v.cuda() for k, v in t.items()} for t in targets]
    with torch.autocast("cuda", dtype=torch.float16):
        losses = model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    scaler = torch.amp.GradScaler("cuda")
    scaler.scale(sum(losses.values())).backward()
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        out = model(images)
    assert out[0]["boxes"].shape[1] == 4
    assert torch.isfinite(out[0]["scores"].float()).all()


def test_relation_weights_for_fig4() -> None:
    model = trained_model("nms", steps=1)
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 80)]
    with torch.no_grad():
        out = [relation_weights(model, image) for image in images]
    assert len(out) == 2
    for found, image in zip(out, images, strict=True):
        boxes, weights = found.roi_boxes, found.weights
        n = boxes.shape[0]
        assert boxes.shape == (n, 4)
        assert boxes[:, 0::2].max() <= image.shape[-1] + 1e-3
        assert len(weights) == 2  # one module after each fc
        for w in weights:
            assert w.shape == (4, n, n)
            torch.testing.assert_close(w.sum(-1), torch.ones(4, n))
    with pytest.raises(ValueError, match="eval"):
        relation_weights(model.train(), images[0])
