"""relation_weights: the detections of eval mode, their RoIs and the relation weights (Fig. 4)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from detector_helpers import NUM_CLASSES, model_config, rectangles, trained_model

from relnet_detector import build_detector
from relnet_detector.modeling.explain import relation_weights


@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_detections_and_weights_match_eval_mode(remover: str) -> None:
    model = trained_model(remover)
    images, _ = rectangles(2, seed=3)
    for image in images:
        found = relation_weights(model, image)
        expected = model([image])[0]
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(found.detections[key], expected[key])
        n = found.roi_boxes.shape[0]
        assert len(found.weights) == len(found.modules) == 2
        assert found.modules == ["fc1 relation module 1", "fc2 relation module 1"]
        for weights in found.weights:
            assert weights.shape[1:] == (n, n)
            torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
        assert found.roi_labels.shape == (n,)
        assert bool(((found.roi_labels >= 1) & (found.roi_labels <= NUM_CLASSES)).all())
        # each detection is its RoI's box for the detected class: same label where it is the best
        k = found.roi_index
        assert bool(((k >= 0) & (k < n)).all())
        best = found.roi_labels[k] == found.detections["labels"]
        torch.testing.assert_close(found.roi_boxes[k][best], found.detections["boxes"][best])


def test_a_head_without_relations_has_no_weights() -> None:
    config = model_config("nms")
    config = dataclasses.replace(config, head=dataclasses.replace(config.head, kind="2fc"))
    model = build_detector(config, NUM_CLASSES).eval()
    found = relation_weights(model, rectangles(1)[0][0])
    assert found.weights == []
    assert found.modules == []


def test_training_mode_and_bad_images_are_refused() -> None:
    model = build_detector(model_config("nms"), NUM_CLASSES)
    with pytest.raises(ValueError, match="eval mode"):
        relation_weights(model, torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match=r"images\[0\] must be a floating \[3, H, W\] tensor"):
        relation_weights(model.eval(), torch.rand(32, 32))
