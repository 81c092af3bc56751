"""RelationRoIHeads: the key mask (appended ground truths and padding are never keys), the
sampled ground truths flagged, post-processing equal to torchvision's with NMS, and the
end-to-end dedup loss (padded equals per group, gradient into the head through the appearance
feature only)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import pytest
import torch
from detector_helpers import NUM_CLASSES, model_config, rectangles
from torch import Tensor
from torchvision.models.detection.roi_heads import RoIHeads

from relnet_dedup import DuplicateRemovalNetwork, batched_assign_duplicate_targets, dedup_loss
from relnet_dedup.testing import assert_padded_batch_matches_groups, dedup_training_loss
from relnet_detector import RelationDetector, build_detector, remove_duplicates_batch
from relnet_detector.modeling.end_to_end import dedup_batch, end_to_end_loss, select_groups


def sharpen(model: RelationDetector) -> None:
    """Larger relation-module weights, so that a leak through the key mask would show."""
    for name, p in model.roi_heads.box_head.named_parameters():
        if "relations" in name and p.dim() == 2:
            torch.nn.init.normal_(p, std=0.2)


def random_boxes(n: int, g: torch.Generator, size: float = 64.0) -> Tensor:
    xy = torch.rand(n, 2, generator=g) * size * 0.7
    return torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * size * 0.3], dim=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_gt_and_padding_are_not_keys(seed: int) -> None:
    """A batch of two images with different RoI counts, the first with appended ground truths:
    every proposal's head feature equals that of its image alone without ground truths."""
    torch.manual_seed(seed)
    model = build_detector(model_config("nms"), NUM_CLASSES)
    sharpen(model)
    heads = model.roi_heads
    g = torch.Generator().manual_seed(seed)
    c, r = model.backbone.out_channels, model.config.roi.pool_size
    proposals = [random_boxes(7, g), random_boxes(4, g)]
    gts = random_boxes(3, g)
    rois = [torch.cat([proposals[0], gts]), proposals[1]]  # 10 and 4 rows: padding in image 1
    pooled = [torch.randn(10, c, r, r, generator=g), torch.randn(4, c, r, r, generator=g)]
    is_gt = [torch.arange(10) >= 7, torch.zeros(4, dtype=torch.bool)]
    with torch.no_grad():
        batched = heads.head_features(torch.cat(pooled), rois, is_gt)  # [14, D]
        alone0 = heads.head_features(pooled[0][:7], [proposals[0]])  # [7, D]
        alone1 = heads.head_features(pooled[1], [proposals[1]])  # [4, D]
        with_gt_keys = heads.head_features(torch.cat(pooled), rois)  # GT as keys: differs
    torch.testing.assert_close(batched[:7], alone0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched[10:], alone1, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(with_gt_keys[:7], alone0, atol=1e-5)


def test_relation_weights_exclude_gt_and_padding() -> None:
    torch.manual_seed(0)
    model = build_detector(model_config("nms"), NUM_CLASSES)
    heads = model.roi_heads
    g = torch.Generator().manual_seed(0)
    c, r = model.backbone.out_channels, model.config.roi.pool_size
    rois = [random_boxes(6, g), random_boxes(3, g)]
    pooled = torch.randn(9, c, r, r, generator=g)
    is_gt = [torch.arange(6) >= 4, torch.zeros(3, dtype=torch.bool)]
    with torch.no_grad():
        _, weights = heads.head_features(pooled, rois, is_gt, return_weights=True)
    assert len(weights) == 2
    for w in weights:  # [B, Nr, N, N]
        assert w.shape[0] == 2
        assert w.shape[2:] == (6, 6)
        assert torch.all(w[0, :, :, 4:] == 0)  # ground truths of image 0
        assert torch.all(w[1, :, :, 3:] == 0)  # padding of image 1


def test_sample_proposals_flags_appended_gt() -> None:
    torch.manual_seed(0)
    model = build_detector(model_config("nms"), NUM_CLASSES)
    heads = model.roi_heads
    g = torch.Generator().manual_seed(0)
    _, targets = rectangles(2, objects=(2, 3))
    proposals = [random_boxes(40, g), random_boxes(25, g)]
    sampled, labels, regression, is_gt = heads.sample_proposals(proposals, targets)
    for i in range(2):
        assert sampled[i].shape[0] == labels[i].shape[0] == regression[i].shape[0]
        assert is_gt[i].dtype == torch.bool
        gt_rows = sampled[i][is_gt[i]]
        assert gt_rows.shape[0] == targets[i]["boxes"].shape[0]  # ground truths are positives
        # each flagged row is one of the image's ground-truth boxes
        match = (gt_rows[:, None] == targets[i]["boxes"][None]).all(-1)  # [k, G]
        assert bool(match.any(1).all())


def test_postprocess_nms_equals_torchvision() -> None:
    """With NMS, the post-processing is torchvision's, box for box."""
    torch.manual_seed(0)
    model = build_detector(model_config("nms"), NUM_CLASSES)
    remover = dataclasses.replace(model.remover, score_threshold=0.05, nms_threshold=0.5)
    model.set_remover(remover)
    ours = model.roi_heads
    reference = RoIHeads(
        ours.box_roi_pool,
        ours.box_head,
        ours.box_predictor,
        0.5,
        0.5,
        64,
        0.25,
        tuple(model.config.roi.reg_weights),
        0.05,
        0.5,
        remover.detections_per_img,
    )
    g = torch.Generator().manual_seed(0)
    proposals = [random_boxes(30, g), random_boxes(12, g)]
    logits = torch.randn(42, NUM_CLASSES + 1, generator=g) * 3
    deltas = torch.randn(42, 4 * (NUM_CLASSES + 1), generator=g) * 0.3
    shapes = [(64, 64), (50, 70)]
    raws = ours.decode_raw(
        logits, deltas, proposals, shapes, logits.new_zeros(42, 0), remover.score_threshold
    )
    results = remove_duplicates_batch(raws, remover)
    got = (
        [r["boxes"] for r in results],
        [r["scores"] for r in results],
        [r["labels"] for r in results],
    )
    expected = reference.postprocess_detections(logits, deltas, proposals, shapes)
    for a, b in zip(got, expected, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y)


def test_select_groups_matches_reference() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(200, generator=g)
    groups = torch.randint(0, 9, (200,), generator=g) * 7  # sparse ids
    index, valid = select_groups(scores, groups, 0.3, 5)
    expected = []
    for group in sorted(set(groups.tolist())):
        members = [i for i in range(200) if groups[i] == group and scores[i] > 0.3]
        members.sort(key=lambda i: (-float(scores[i]), i))
        if members:
            expected.append(members[:5])
    assert index.shape[0] == len(expected)
    for row, members in zip(range(index.shape[0]), expected, strict=True):
        assert index[row][valid[row]].tolist() == members
    empty_index, empty_valid = select_groups(scores[:0], groups[:0], 0.3, 5)
    assert empty_index.shape == empty_valid.shape == (0, 0)


def e2e_inputs(seed: int) -> dict[str, Any]:
    """Inputs of ``end_to_end_loss`` for two images, 3 classes, with crowded duplicates."""
    g = torch.Generator().manual_seed(seed)
    counts = [12, 9]
    r = sum(counts)
    gt_boxes = [random_boxes(3, g), random_boxes(2, g)]
    gt_labels = [torch.tensor([1, 2, 1]), torch.tensor([3, 3])]
    # RoIs around the ground truths: jittered copies, so there are duplicates to remove
    base = torch.cat([gt_boxes[0][torch.arange(12) % 3], gt_boxes[1][torch.arange(9) % 2]])
    boxes = base[:, None, :].repeat(1, NUM_CLASSES + 1, 1)  # [R, C+1, 4]
    boxes = boxes + torch.randn(r, NUM_CLASSES + 1, 4, generator=g)
    return {
        "class_logits": torch.randn(r, NUM_CLASSES + 1, generator=g) * 2,
        "boxes": boxes,
        "features": torch.randn(r, 16, generator=g, requires_grad=True),
        "is_gt": torch.tensor([False] * 10 + [True] * 2 + [False] * 9),
        "image_index": torch.tensor([0] * 12 + [1] * 9),
        "gt_boxes": gt_boxes,
        "gt_labels": gt_labels,
    }


def small_dedup() -> DuplicateRemovalNetwork:
    from relnet_dedup import DedupConfig

    torch.manual_seed(0)
    return DuplicateRemovalNetwork(
        DedupConfig(feat_dim=16, embed_dim=16, num_relations=4, key_dim=8, geo_dim=16)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("first_n", [3, 100])
def test_padded_e2e_loss_equals_per_group_loss(seed: int, first_n: int) -> None:
    """The padded batch of groups gives the loss of one network call per (image, class) group,
    each on its own candidates (ground truths left out), averaged over all candidates."""
    network = small_dedup()
    inputs = e2e_inputs(seed)
    loss = end_to_end_loss(network, **inputs, score_threshold=0.05, first_n=first_n)

    logits, boxes = inputs["class_logits"], inputs["boxes"]
    features, is_gt, image = inputs["features"], inputs["is_gt"], inputs["image_index"]
    s0 = torch.softmax(logits, -1)
    total, count = torch.zeros(()), 0
    for i in range(2):
        for c in range(1, NUM_CLASSES + 1):
            rows = [
                k for k in range(len(image)) if image[k] == i and not is_gt[k] and s0[k, c] > 0.05
            ]
            rows.sort(key=lambda k: (-float(s0[k, c]), k))
            rows = rows[:first_n]
            if not rows:
                continue
            idx = torch.tensor(rows)
            gt = inputs["gt_boxes"][i]
            gt_mask = inputs["gt_labels"][i] == c
            targets = batched_assign_duplicate_targets(
                boxes[idx, c],
                s0[idx, c],
                torch.zeros(len(rows), dtype=torch.long),
                gt[gt_mask],
                torch.zeros(int(gt_mask.sum()), dtype=torch.long),
                thresholds=network.thresholds,
            )
            out = network(
                boxes[idx, c][None],
                s0[idx, c][None],
                torch.ones(1, len(rows), dtype=torch.bool),
                features[idx][None],
            )
            group_loss = dedup_loss(out, s0[idx, c][None], targets[None])
            total = total + group_loss * len(rows)
            count += len(rows)
    torch.testing.assert_close(loss, total / count, rtol=1e-5, atol=1e-6)


def test_e2e_loss_without_candidates_is_zero_with_gradient() -> None:
    network = small_dedup()
    inputs = e2e_inputs(0)
    loss = end_to_end_loss(network, **inputs, score_threshold=1.0, first_n=5)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert all(p.grad is not None for p in network.parameters())


@pytest.mark.parametrize("detach_scores", [True, False])
@pytest.mark.parametrize("backbone_gradient", [False, True])
def test_e2e_gradient_paths(detach_scores: bool, backbone_gradient: bool) -> None:
    """The dedup loss reaches the head through the appearance feature; the classifier through
    s0 only when it is not detached (the authors' code); the box regressor never; the backbone
    only with e2e_backbone_gradient."""
    torch.manual_seed(0)
    config = model_config("e2e")
    remover = replace(
        config.remover, e2e_detach_scores=detach_scores, e2e_backbone_gradient=backbone_gradient
    )
    model = build_detector(replace(config, remover=remover), NUM_CLASSES)
    heads = model.roi_heads
    captured: dict[str, Tensor] = {}
    original = heads.box_predictor.forward

    def spy(x: Tensor) -> tuple[Tensor, Tensor]:
        captured["features"] = x
        return original(x)  # type: ignore[no-any-return]

    heads.box_predictor.forward = spy
    images, targets = rectangles(2)
    losses = model(images, targets)
    model.zero_grad()
    features = captured["features"]
    (grad,) = torch.autograd.grad(losses["loss_dedup"], features, retain_graph=True)
    assert grad.abs().sum() > 0  # the appearance feature carries the dedup gradient
    losses["loss_dedup"].backward()
    head_grads = [p.grad for p in heads.box_head.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in head_grads)

    def reached(params: Any) -> bool:
        return any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in params)

    predictor = heads.box_predictor
    assert reached(predictor.cls_score.parameters()) == (not detach_scores)
    assert not reached(predictor.bbox_pred.parameters())  # the boxes are always detached
    assert reached(heads.dedup.parameters())
    assert reached(model.backbone.parameters()) == backbone_gradient
    assert int(heads.dedup_steps) == 1


def test_e2e_loss_is_on_the_test_time_proposals() -> None:
    """``loss_dedup`` sees each image's top ``dedup_proposals`` proposals with every one a key,
    as the remover does at test time: the RoI sampling does not change it, proposals past the
    top ones do not, a top one does; and it equals the loss of the eval-mode head's output."""
    torch.manual_seed(0)
    model = build_detector(model_config("e2e"), NUM_CLASSES)
    sharpen(model)
    heads = model.roi_heads
    heads.dedup_proposals = 6
    g = torch.Generator().manual_seed(0)
    c = model.backbone.out_channels
    features = {name: torch.randn(2, c, 16, 16, generator=g) for name in ["0", "1", "2", "3"]}
    shapes = [(64, 64), (64, 64)]
    proposals = [random_boxes(9, g), random_boxes(7, g)]
    _, targets = rectangles(2)

    def loss(props: list[Tensor], seed: int) -> Tensor:
        torch.manual_seed(seed)  # the RoI sampling's randomness
        with torch.no_grad():
            return heads(features, props, shapes, targets)[1]["loss_dedup"]

    reference = loss(proposals, seed=0)
    assert float(reference) > 0
    torch.testing.assert_close(loss(proposals, seed=1), reference, rtol=0, atol=0)
    tail = [torch.cat([p[:6], random_boxes(p.shape[0] - 6, g)]) for p in proposals]
    torch.testing.assert_close(loss(tail, seed=0), reference, rtol=1e-6, atol=1e-7)
    head = [torch.cat([random_boxes(1, g), p[1:]]) for p in proposals]
    assert not torch.allclose(loss(head, seed=0), reference)

    top = [p[:6] for p in proposals]
    heads.eval()
    with torch.no_grad():  # what the remover is given at test time
        raws = heads.raw_detections(features, top, shapes, score_threshold=-1.0)
    appearance = torch.cat([r.roi_features for r in raws])  # [12, D]: test time's features
    with torch.no_grad():
        logits, regression = heads.box_predictor(appearance)
    expected = end_to_end_loss(
        heads.dedup,
        logits,
        heads.decode_boxes(regression, top, shapes, [6, 6]),
        appearance,
        torch.zeros(12, dtype=torch.bool),
        torch.arange(2).repeat_interleave(6),
        [t["boxes"] for t in targets],
        [t["labels"] for t in targets],
        score_threshold=heads.remover.score_threshold,
        first_n=heads.remover.first_n,
    )
    torch.testing.assert_close(reference, expected, rtol=1e-5, atol=1e-6)


def test_e2e_candidates_exclude_ground_truth() -> None:
    """Certain scores for the appended ground truths change nothing: they are not candidates."""
    network = small_dedup()
    inputs = e2e_inputs(3)
    loss = end_to_end_loss(network, **inputs, score_threshold=0.05, first_n=100)
    logits = inputs["class_logits"].clone()
    logits[inputs["is_gt"]] = torch.tensor([0.0, 50.0, 0.0, 0.0])
    changed = end_to_end_loss(
        network, **{**inputs, "class_logits": logits}, score_threshold=0.05, first_n=100
    )
    torch.testing.assert_close(loss, changed)


@pytest.mark.parametrize("seed", [0, 1])
def test_e2e_batch_passes_relnet_dedup_padding_check(seed: int) -> None:
    """Issue 11's shared check (``relnet_dedup.testing``): the padded groups of the end-to-end
    loss give the loss and every gradient of the groups run one at a time."""
    network = small_dedup()
    inputs = e2e_inputs(seed)
    kwargs = {k: v for k, v in inputs.items() if k != "features"}
    batch = dedup_batch(**kwargs, thresholds=network.thresholds, score_threshold=0.05, first_n=4)
    assert batch is not None
    features = inputs["features"].detach()[batch.roi]  # [G, M, D]
    tensors = (batch.boxes, batch.scores, batch.targets, features)
    groups = [tuple(t[g][batch.valid[g]] for t in tensors) for g in range(batch.valid.shape[0])]
    assert_padded_batch_matches_groups(
        network, dedup_training_loss(network), tensors, batch.valid, groups
    )
    loss = end_to_end_loss(network, **inputs, score_threshold=0.05, first_n=4)
    expected = dedup_training_loss(network)(tensors, batch.valid)
    torch.testing.assert_close(loss, expected)
