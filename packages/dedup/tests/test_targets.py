"""Duplicate-removal targets (§4.3) against a slow per-detection loop following the definition."""

from __future__ import annotations

import pytest
import torch

from relnet_dedup import assign_duplicate_targets, batched_assign_duplicate_targets

ETAS = (0.5, 0.6, 0.7, 0.8, 0.9)


def iou_py(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def reference(boxes: torch.Tensor, scores: torch.Tensor, gts: torch.Tensor, etas=ETAS):
    """One detection at a time: own ground truth first, then the best scorer per ground truth."""
    b, s, g = boxes.tolist(), scores.tolist(), gts.tolist()
    out = torch.zeros(len(b), len(etas), dtype=scores.dtype)
    own = []
    for box in b:
        ious = [iou_py(box, gt) for gt in g]
        best = max(ious) if ious else -1.0
        own.append((ious.index(best) if ious else -1, best))  # index() = first, lower GT index
    for t, eta in enumerate(etas):
        for j in range(len(g)):
            members = [i for i in range(len(b)) if own[i][0] == j and own[i][1] >= eta]
            if members:
                winner = max(members, key=lambda i: (s[i], -i))  # equal scores: lower index
                out[winner, t] = 1.0
    return out


def scene(gen: torch.Generator, num_gt: int, per_gt: int, background: int, tie_scores: bool):
    """Ground truths (some overlapping or identical), clusters of duplicates, random background."""
    xy = torch.rand(num_gt, 2, generator=gen) * 80
    wh = torch.rand(num_gt, 2, generator=gen) * 30 + 5
    gts = torch.cat([xy, xy + wh], 1).double()  # [G, 4]
    if num_gt >= 2:
        gts[1] = gts[0] + torch.rand(4, generator=gen).double() * 4  # an overlapping pair
    if num_gt >= 3:
        gts[2] = gts[0]  # identical ground truths: the IoU tie goes to the lower index
    dets = [gts.repeat_interleave(per_gt, 0)]  # [G * per_gt, 4]
    dets[0] = dets[0] + torch.randn(dets[0].shape, generator=gen).double() * 3
    bg_xy = torch.rand(background, 2, generator=gen).double() * 90
    dets.append(torch.cat([bg_xy, bg_xy + torch.rand(background, 2, generator=gen) * 20], 1))
    boxes = torch.cat(dets)  # [N, 4]
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    boxes[::7, 2:] = boxes[::7, :2]  # some degenerate, zero-size detections
    scores = torch.rand(boxes.shape[0], generator=gen).double()
    if tie_scores:
        scores = (scores * 4).round() / 4  # many equal scores: the lower index wins
    perm = torch.randperm(boxes.shape[0], generator=gen)
    return boxes[perm], scores[perm], gts


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    num_gt = int(torch.randint(1, 7, (1,), generator=gen))
    boxes, scores, gts = scene(gen, num_gt, per_gt=8, background=10, tie_scores=seed % 2 == 1)
    out = assign_duplicate_targets(boxes, scores, gts)
    torch.testing.assert_close(out, reference(boxes, scores, gts), rtol=0, atol=0)
    # at most one correct detection per ground truth and threshold, and only for those with a match
    assert bool((out.sum(0) <= num_gt).all())
    # a higher eta never labels more detections correct
    assert bool((out.sum(0)[1:] <= out.sum(0)[:-1]).all())


@pytest.mark.parametrize("seed", range(10))
def test_float32_and_custom_thresholds(seed: int) -> None:
    gen = torch.Generator().manual_seed(100 + seed)
    boxes, scores, gts = scene(gen, 4, per_gt=5, background=5, tie_scores=False)
    etas = (0.3, 0.55, 0.95)
    out = assign_duplicate_targets(boxes.float(), scores.float(), gts.float(), thresholds=etas)
    assert out.dtype == torch.float32
    expected = reference(
        boxes.float().double(), scores.float().double(), gts.float().double(), etas
    )
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=0)
    as_tensor = assign_duplicate_targets(boxes, scores, gts, thresholds=torch.tensor(etas))
    torch.testing.assert_close(as_tensor, reference(boxes, scores, gts, etas), rtol=0, atol=0)


def test_ties_are_deterministic() -> None:
    box = [0.0, 0.0, 10.0, 10.0]
    boxes = torch.tensor([box, box, box])
    gts = torch.tensor([box, box])  # identical ground truths: all detections belong to GT 0
    out = assign_duplicate_targets(boxes, torch.tensor([0.5, 0.9, 0.9]), gts)
    assert out[:, 0].tolist() == [0.0, 1.0, 0.0]  # equal top scores: the lower index wins


def test_empty_inputs() -> None:
    gts = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    out = assign_duplicate_targets(torch.zeros(0, 4), torch.zeros(0), gts)
    assert out.shape == (0, 5)
    out = assign_duplicate_targets(
        torch.rand(3, 4).sort(1).values, torch.rand(3), torch.zeros(0, 4)
    )
    assert out.shape == (3, 5)
    assert not bool(out.any())
    out = batched_assign_duplicate_targets(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), gts, torch.tensor([0])
    )
    assert out.shape == (0, 5)


def test_one_detection() -> None:
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    det = torch.tensor([[0.0, 0.0, 10.0, 8.0]])  # IoU 0.8 with GT 0
    out = assign_duplicate_targets(det, torch.tensor([0.1]), gts)
    assert out.tolist() == [[1.0, 1.0, 1.0, 1.0, 0.0]]


def interleave(groups: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random permutation that mixes the groups but keeps each group's own order (and ties)."""
    slots = groups[torch.randperm(len(groups), generator=gen)]  # [N]: which group fills each slot
    perm = torch.empty_like(groups, dtype=torch.long)
    for group in groups.unique().tolist():
        perm[slots == group] = (groups == group).nonzero().flatten()
    return perm


@pytest.mark.parametrize("seed", range(15))
def test_batched_equals_per_group(seed: int) -> None:
    gen = torch.Generator().manual_seed(1000 + seed)
    parts = []
    for group in torch.randperm(6, generator=gen)[:4].tolist():
        num_gt = int(torch.randint(0, 4, (1,), generator=gen))
        boxes, scores, gts = scene(gen, num_gt, per_gt=6, background=4, tie_scores=seed % 3 == 0)
        parts.append((group, boxes, scores, gts))
    boxes = torch.cat([p[1] for p in parts])
    scores = torch.cat([p[2] for p in parts])
    idxs = torch.cat([torch.full((len(p[1]),), p[0]) for p in parts])
    gts = torch.cat([p[3] for p in parts])
    gt_idxs = torch.cat([torch.full((len(p[3]),), p[0], dtype=torch.int32) for p in parts])
    perm, gt_perm = interleave(idxs, gen), interleave(gt_idxs, gen)
    out = batched_assign_duplicate_targets(
        boxes[perm], scores[perm], idxs[perm], gts[gt_perm], gt_idxs[gt_perm]
    )
    expected = torch.cat([assign_duplicate_targets(p[1], p[2], p[3]) for p in parts])[perm]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    for _, b, s, g in parts:  # and each group against the slow reference
        expected = reference(b, s, g)
        torch.testing.assert_close(assign_duplicate_targets(b, s, g), expected, rtol=0, atol=0)


GTS = torch.tensor([[0.0, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((torch.rand(2, 4), torch.tensor([0.5, float("nan")]), GTS), r"scores .* index 1"),
        ((torch.rand(2, 4), torch.rand(3), GTS), r"scores must have shape \[N\] .* \(2, 4\)"),
        (
            (torch.rand(2, 4), torch.rand(2), GTS.index_fill(1, torch.tensor([3]), float("nan"))),
            r"gt_boxes holds NaN or inf, first at index \(0, 3\): nan",
        ),
        ((torch.rand(2, 4), torch.rand(2), torch.rand(4)), r"gt_boxes must have shape \[\*, 4\]"),
    ],
)
def test_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        assign_duplicate_targets(*args)


def test_bad_thresholds_and_group_ids() -> None:
    boxes, scores = torch.rand(2, 4), torch.rand(2)
    for etas, message in [
        ((), "at least one"),
        ((0.5, 1.2), r"thresholds\[1\] must be a number in \(0.0, 1.0\], got 1.2"),
        ((0.0,), r"thresholds\[0\] must be a number in \(0.0, 1.0\], got 0.0"),
    ]:
        with pytest.raises(ValueError, match=message):
            assign_duplicate_targets(boxes, scores, GTS, thresholds=etas)
    idxs = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"gt_idxs must be an integer tensor"):
        batched_assign_duplicate_targets(boxes, scores, idxs, GTS, torch.zeros(1))
    with pytest.raises(
        ValueError, match=r"gt_idxs must have shape \[N\] to match gt_boxes \(1, 4\)"
    ):
        batched_assign_duplicate_targets(boxes, scores, idxs, GTS, idxs)
    with pytest.raises(ValueError, match=r"idxs must be an integer tensor"):
        batched_assign_duplicate_targets(boxes, scores, scores, GTS, idxs[:1])


def test_thresholds_that_are_not_a_sequence_name_the_argument() -> None:
    """Issue 10, unclear error: thresholds=0.5 gave "'float' object is not iterable"."""
    boxes, scores = torch.rand(2, 4), torch.rand(2)
    boxes[:, 2:] += boxes[:, :2]
    with pytest.raises(ValueError, match=r"thresholds must be a sequence of IoU thresholds"):
        assign_duplicate_targets(boxes, scores, boxes, thresholds=0.5)  # type: ignore[arg-type]
    out = assign_duplicate_targets(boxes, scores, boxes, thresholds=torch.tensor([0.5, 0.7]))
    assert out.shape == (2, 2)
