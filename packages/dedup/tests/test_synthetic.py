"""The synthetic detector output: deterministic, with crowds, IoU-correlated scores and features."""

from __future__ import annotations

import torch

from relnet_dedup import SyntheticConfig, make_synthetic
from relnet_geometry import box_iou


def test_same_seed_same_images() -> None:
    a, b = make_synthetic(3, seed=4), make_synthetic(3, seed=4)
    c = make_synthetic(3, seed=5)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.boxes, y.boxes)
        assert torch.equal(x.scores, y.scores)
        assert torch.equal(x.gt_boxes, y.gt_boxes)
        assert torch.equal(x.labels, y.labels)
    assert not torch.equal(a[0].boxes, c[0].boxes) or not torch.equal(a[1].boxes, c[1].boxes)


def test_crowds_duplicates_and_background() -> None:
    images = make_synthetic(30, SyntheticConfig(crowd_prob=0.5), seed=0)
    crowd_pairs, corr, tiny = 0, [], 0
    for image in images:
        assert image.boxes.shape[0] == image.scores.shape[0] == image.labels.shape[0]
        assert ((image.scores >= 0) & (image.scores <= 1)).all()
        assert (image.boxes[:, 2:] >= image.boxes[:, :2]).all()
        same = image.gt_labels[:, None] == image.gt_labels[None, :]
        iou = box_iou(image.gt_boxes, image.gt_boxes).masked_fill(~same, 0.0).triu(1)
        crowd_pairs += int(((iou >= 0.35) & (iou <= 0.75)).sum())
        absent = ~torch.isin(image.labels, image.gt_labels)
        tiny += int(absent.sum())
        assert (image.scores[absent] <= 0.3).all()  # absent classes: false positives only
        for g in range(image.gt_boxes.shape[0]):
            own = image.labels == image.gt_labels[g]
            overlap = box_iou(image.boxes[own], image.gt_boxes[g : g + 1])[:, 0]
            near = overlap > 0.3
            if int(near.sum()) >= 3:
                x, y = overlap[near], image.scores[own][near]
                corr.append(float(torch.corrcoef(torch.stack([x, y]))[0, 1]))
    assert crowd_pairs >= 10  # plenty of same-class pairs NMS at 0.5 would merge
    assert tiny > 100
    assert sum(corr) / len(corr) > 0.3  # scores rise with IoU, with noise


def test_features_are_noisy_not_the_answer() -> None:
    images = make_synthetic(5, SyntheticConfig(feat_dim=16), seed=1)
    for image in images:
        assert image.features is not None
        assert image.features.shape == (image.boxes.shape[0], 16)
        assert torch.isfinite(image.features).all()
    assert make_synthetic(1, seed=1)[0].features is None


def test_boxes_and_scores_do_not_depend_on_feat_dim() -> None:
    plain = make_synthetic(3, SyntheticConfig(feat_dim=0), seed=2)
    rich = make_synthetic(3, SyntheticConfig(feat_dim=8), seed=2)
    for a, b in zip(plain, rich, strict=True):
        assert torch.equal(a.boxes, b.boxes)
        assert torch.equal(a.scores, b.scores)
        assert torch.equal(a.gt_boxes, b.gt_boxes)
