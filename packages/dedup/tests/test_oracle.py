"""The oracle remover against constructed cases with a known answer and a slow greedy loop."""

from __future__ import annotations

import pytest
import torch
from box_reference import iou_py

from relnet_dedup import oracle_batched_nms


def reference(boxes, scores, idxs, gts, gt_idxs, threshold=0.5):
    """Every (detection, ground truth) pair of one group sorted by IoU (highest first, then the
    lower detection, then the lower ground-truth index), taken when both are still free."""
    b, g = boxes.tolist(), gts.tolist()
    pairs = [
        (iou_py(b[i], g[j]), i, j)
        for i in range(len(b))
        for j in range(len(g))
        if int(idxs[i]) == int(gt_idxs[j]) and iou_py(b[i], g[j]) >= threshold
    ]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_d, used_g, kept = set(), set(), []
    for _, i, j in pairs:
        if i not in used_d and j not in used_g:
            used_d.add(i)
            used_g.add(j)
            kept.append(i)
    s = scores.tolist()
    return sorted(kept, key=lambda i: (-s[i], i))


def test_a_crowd_of_two_keeps_each_members_best_box():
    # two overlapping ground truths (IoU 0.43) with three detections each: the best-localised
    # detection of each is kept, whatever its score; the other four are duplicates
    gts = torch.tensor([[0.0, 0.0, 20.0, 20.0], [8.0, 0.0, 28.0, 20.0]])
    boxes = torch.tensor(
        [
            [0.0, 0.0, 20.0, 20.0],  # 0: exact on gt 0, low score
            [1.0, 0.0, 21.0, 20.0],  # 1: gt 0, IoU 0.90
            [3.0, 0.0, 23.0, 20.0],  # 2: gt 0, IoU 0.74 (and gt 1 at 0.60)
            [8.0, 0.0, 27.0, 20.0],  # 3: gt 1, IoU 0.95
            [9.0, 0.0, 29.0, 20.0],  # 4: gt 1, IoU 0.90
            [40.0, 40.0, 50.0, 50.0],  # 5: background
        ]
    )
    scores = torch.tensor([0.2, 0.9, 0.8, 0.3, 0.7, 0.95])
    keep, kept_scores = oracle_batched_nms(boxes, scores, torch.zeros(6, dtype=torch.long), gts,
                                           torch.zeros(2, dtype=torch.long))  # fmt: skip
    assert keep.tolist() == [3, 0]  # by score: 0.3, 0.2
    assert torch.equal(kept_scores, scores[[3, 0]])


def test_a_detection_serves_one_ground_truth_only():
    # one detection between two identical ground truths: one of them goes unmatched
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 11.0]])
    keep, _ = oracle_batched_nms(boxes, torch.tensor([0.5]), torch.tensor([0]), gts,
                                 torch.tensor([0, 0]))  # fmt: skip
    assert keep.tolist() == [0]


def test_groups_never_match_each_other():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    keep, _ = oracle_batched_nms(box, torch.tensor([0.9]), torch.tensor([1]), box,
                                 torch.tensor([2]))  # fmt: skip
    assert keep.numel() == 0


def test_below_the_threshold_nothing_is_kept():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    boxes = torch.tensor([[5.0, 0.0, 15.0, 10.0]])  # IoU 1/3
    one = torch.tensor([0])
    assert oracle_batched_nms(boxes, torch.tensor([0.9]), one, gt, one)[0].numel() == 0
    assert oracle_batched_nms(boxes, torch.tensor([0.9]), one, gt, one, 0.3)[0].tolist() == [0]


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_greedy_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    g = int(torch.randint(0, 12, (), generator=gen))
    xy = torch.rand(g, 2, generator=gen) * 60
    gts = torch.cat([xy, xy + 10 + torch.rand(g, 2, generator=gen) * 20], 1).double()  # [G, 4]
    if g >= 2:
        gts[1] = gts[0] + torch.tensor([6.0, 0.0, 6.0, 0.0], dtype=torch.float64)  # a crowd pair
    gt_idxs = torch.randint(0, 3, (g,), generator=gen)
    per = 6
    boxes = gts.repeat_interleave(per, 0) + torch.randn(g * per, 4, generator=gen).double() * 3
    boxes = torch.cat([boxes, torch.rand(5, 4, generator=gen).double() * 80])
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, :2] + 1, boxes[:, 2:])], 1)
    idxs = torch.cat([gt_idxs.repeat_interleave(per), torch.randint(0, 3, (5,), generator=gen)])
    scores = torch.rand(boxes.shape[0], generator=gen).double()
    perm = torch.randperm(boxes.shape[0], generator=gen)
    boxes, idxs, scores = boxes[perm], idxs[perm], scores[perm]
    keep, kept_scores = oracle_batched_nms(boxes, scores, idxs, gts, gt_idxs)
    assert keep.tolist() == reference(boxes, scores, idxs, gts, gt_idxs)
    assert torch.equal(kept_scores, scores[keep])


def test_empty_inputs():
    none4, none = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    gt = torch.tensor([[0.0, 0.0, 5.0, 5.0]])
    keep, s = oracle_batched_nms(none4, torch.zeros(0), none, gt, torch.tensor([0]))
    assert keep.shape == (0,)
    assert s.shape == (0,)
    keep, _ = oracle_batched_nms(gt, torch.tensor([0.5]), torch.tensor([0]), none4, none)
    assert keep.shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iou_threshold": 0.0}, "iou_threshold"),
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"gt_idxs": torch.tensor([0.0])}, "gt_idxs"),
        ({"gt_boxes": torch.tensor([[0.0, 0.0, float("nan"), 1.0]])}, "gt_boxes"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    args = {
        "boxes": torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
        "scores": torch.tensor([0.5]),
        "idxs": torch.tensor([0]),
        "gt_boxes": torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
        "gt_idxs": torch.tensor([0]),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        oracle_batched_nms(**args)
