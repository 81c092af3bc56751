"""relation_weights: the detections of eval mode, their RoIs and the relation weights (Fig. 4)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from detector_helpers import NUM_CLASSES, model_config, rectangles, trained_model

from relnet_detector import build_detector
from relnet_detector.modeling.explain import RelationWeights, relation_weights, top_related


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


def _found(weights: list[torch.Tensor], roi_index: list[int]) -> RelationWeights:
    k, n = len(roi_index), weights[0].shape[-1]
    return RelationWeights(
        detections={"boxes": torch.zeros(k, 4), "labels": torch.ones(k), "scores": torch.ones(k)},
        roi_index=torch.tensor(roi_index),
        roi_boxes=torch.zeros(n, 4),
        roi_labels=torch.ones(n, dtype=torch.long),
        weights=weights,
        modules=[f"module {m}" for m in range(len(weights))],
    )


@pytest.mark.parametrize("relation", [None, 0, 2])
def test_top_related_is_the_highest_weights_but_the_reference(relation: int | None) -> None:
    g = torch.Generator().manual_seed(0)
    weights = [torch.rand(3, 9, 9, generator=g).softmax(-1) for _ in range(2)]  # [N_r, N, N]
    found = _found(weights, [4, 0])
    for k, module in ((0, 0), (1, 1)):
        roi = int(found.roi_index[k])
        row = weights[module][:, roi].sum(0) if relation is None else weights[module][relation, roi]
        slow = sorted((i for i in range(9) if i != roi), key=lambda i: -float(row[i]))[:3]
        index, values = top_related(found, k, module, relation, 3)
        assert index.tolist() == slow
        assert values.tolist() == pytest.approx([float(row[i]) for i in slow])
    index, _ = top_related(found, 0, 0, relation, 100)
    assert len(index) == 8  # every RoI but the reference


def test_top_related_ties_go_to_the_lower_roi_and_ranges_are_named() -> None:
    found = _found([torch.full((2, 5, 5), 0.2)], [2])
    assert top_related(found, 0, 0, None, 3)[0].tolist() == [0, 1, 3]
    for args, match in (((1, 0, None, 3), "detection 1"), ((0, 1, None, 3), "module 1"),
                        ((0, 0, 2, 3), "relation 2"), ((0, 0, None, 0), "top")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            top_related(found, *args)
