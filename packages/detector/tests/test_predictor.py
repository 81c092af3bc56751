"""The box predictor of a head whose box regressor reads its own feature
(``HeadConfig.box_feature="pre_relation"``): each layer reads its part, and the detector trains."""

from __future__ import annotations

import dataclasses

import torch
from detector_helpers import NUM_CLASSES, model_config, rectangles, train
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from relnet_detector import build_detector
from relnet_detector.modeling.predictor import SplitPredictor, build_predictor
from relnet_heads import HeadConfig, build_head


def test_each_layer_reads_its_part_of_the_feature() -> None:
    torch.manual_seed(0)
    predictor = SplitPredictor(cls_dim=6, box_dim=4, num_classes=3)
    x = torch.randn(5, 10)  # [R, cls_dim + box_dim]
    logits, deltas = predictor(x)
    torch.testing.assert_close(
        logits, x[:, :6] @ predictor.cls_score.weight.T + predictor.cls_score.bias
    )
    torch.testing.assert_close(
        deltas, x[:, 6:] @ predictor.bbox_pred.weight.T + predictor.bbox_pred.bias
    )
    changed = x.clone()
    changed[:, 6:] += 1.0  # the box part only
    new_logits, new_deltas = predictor(changed)
    assert torch.equal(new_logits, logits)
    assert not torch.equal(new_deltas, deltas)


def test_the_paper_head_keeps_torchvisions_predictor() -> None:
    head = build_head(HeadConfig(hidden_dim=32, kind="2fc"), 8, 3)
    assert type(build_predictor(head, 4)) is FastRCNNPredictor


def test_a_detector_with_the_pre_relation_box_feature_trains_and_predicts() -> None:
    config = model_config("nms")
    config = dataclasses.replace(
        config, head=dataclasses.replace(config.head, box_feature="pre_relation")
    )
    torch.manual_seed(0)
    model = build_detector(config, NUM_CLASSES)
    predictor = model.roi_heads.box_predictor
    assert isinstance(predictor, SplitPredictor)
    assert predictor.bbox_pred.in_features == config.head.hidden_dim
    history = train(model, steps=8)
    assert history[-1] < history[0]
    images, _ = rectangles(2, seed=3)
    with torch.no_grad():
        out = model.eval()(images)
    assert [set(o) for o in out] == [{"boxes", "labels", "scores"}] * 2
