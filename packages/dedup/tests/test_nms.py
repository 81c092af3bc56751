"""Greedy NMS: the pure torch path and the public functions against a slow greedy loop."""

from __future__ import annotations

import pytest
import torch
from box_reference import iou_py

from relnet_dedup import batched_nms, nms
from relnet_dedup import grouping as _groups
from relnet_dedup.classic.nms import _batched_nms_torch, _separate_groups, batched_nms_separated


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Take the highest remaining score (lower index on ties), drop what it overlaps, repeat."""
    b, s = boxes.tolist(), scores.tolist()
    remaining = sorted(range(len(b)), key=lambda i: (-s[i], i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining if iou_py(b[best], b[i]) <= threshold]
    return keep


def reference_batched(boxes, scores, idxs, threshold: float) -> list[int]:
    keep: list[int] = []
    for group in idxs.unique().tolist():
        members = (idxs == group).nonzero().flatten()
        keep += members[reference_nms(boxes[members], scores[members], threshold)].tolist()
    return sorted(keep, key=lambda i: (-float(scores[i]), i))


def clusters(gen: torch.Generator, n_objects: int, per_object: int, dtype=torch.float64):
    """Clusters of jittered duplicates around objects, plus a few degenerate boxes."""
    xy = torch.rand(n_objects, 2, generator=gen, dtype=dtype) * 100
    wh = torch.rand(n_objects, 2, generator=gen, dtype=dtype) * 40 + 2
    centers = torch.cat([xy, xy + wh], 1).repeat_interleave(per_object, 0)  # [N, 4]
    noise = (
        torch.randn(centers.shape, generator=gen, dtype=dtype)
        * wh.repeat_interleave(per_object, 0).repeat(1, 2)
        * 0.1
    )
    boxes = centers + noise
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, :2], boxes[:, 2:])], 1)  # x2 >= x1
    boxes[::11, 2:] = boxes[::11, :2]  # zero-size boxes never suppress and are never suppressed
    scores = torch.rand(boxes.shape[0], generator=gen, dtype=dtype)
    return boxes, scores


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_torch_path_matches_reference(seed: int, threshold: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    boxes, scores = clusters(gen, n_objects=5, per_object=8)
    if seed % 5 == 0:
        scores = (scores * 3).round() / 3  # equal scores: the lower index first
    zeros = torch.zeros(len(boxes), dtype=torch.long)
    keep = _batched_nms_torch(boxes, scores, zeros, threshold)
    assert keep.dtype == torch.int64
    assert keep.tolist() == reference_nms(boxes, scores, threshold)
    if seed % 5 != 0:  # the public function (torchvision when installed) on distinct scores
        assert nms(boxes, scores, threshold).tolist() == keep.tolist()


@pytest.mark.parametrize("seed", range(15))
def test_batched_torch_path_matches_reference(seed: int, monkeypatch) -> None:
    gen = torch.Generator().manual_seed(500 + seed)
    boxes, scores = clusters(gen, n_objects=6, per_object=7)
    idxs = torch.randint(-2, 3, (len(boxes),), generator=gen)  # any integers, also negative
    if seed % 3 == 0:  # a tiny budget: one group per chunk, still the same result
        monkeypatch.setattr(_groups, "PAIRWISE_BUDGET", 1)
    keep = _batched_nms_torch(boxes, scores, idxs, 0.5)
    assert keep.tolist() == reference_batched(boxes, scores, idxs, 0.5)
    assert batched_nms(boxes, scores, idxs.int(), 0.5).tolist() == keep.tolist()


def test_long_suppression_chain() -> None:
    """Each box overlaps the next: the greedy result depends on the whole chain."""
    x = torch.arange(60, dtype=torch.float32)
    boxes = torch.stack([x, torch.zeros(60), x + 10, torch.full((60,), 10.0)], 1)  # [60, 4]
    scores = 1.0 - x / 100
    keep = _batched_nms_torch(boxes, scores, torch.zeros(60, dtype=torch.long), 0.5)
    assert keep.tolist() == reference_nms(boxes, scores, 0.5) == list(range(0, 60, 4))


def test_edge_cases() -> None:
    zeros = torch.zeros(0, dtype=torch.long)
    for fn in (lambda b, s: nms(b, s, 0.5), lambda b, s: _batched_nms_torch(b, s, zeros, 0.5)):
        assert fn(torch.zeros(0, 4), torch.zeros(0)).shape == (0,)
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert nms(box, torch.tensor([0.3]), 0.5).tolist() == [0]
    same = box.repeat(4, 1)  # identical boxes, all scores zero: the first one survives
    one = torch.zeros(4, dtype=torch.long)
    assert _batched_nms_torch(same, torch.zeros(4), one, 0.5).tolist() == [0]
    assert batched_nms(same, torch.zeros(4), torch.tensor([0, 1, 0, 1]), 0.5).shape == (2,)
    degenerate = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    keep = _batched_nms_torch(degenerate, torch.tensor([0.9, 0.8, 0.7]), one[:3], 0.0)
    assert keep.tolist() == [0, 1, 2]  # zero-area boxes overlap nothing
    half = _batched_nms_torch(same.half(), torch.rand(4).half(), one, 0.5)
    assert half.shape == (1,)
    assert nms(same.half(), torch.tensor([0.1, 0.5, 0.2, 0.3]).half(), 0.5).tolist() == [1]


@pytest.mark.parametrize("seed", range(10))
def test_torch_path_matches_torchvision(seed: int) -> None:
    ops = pytest.importorskip("torchvision.ops")
    gen = torch.Generator().manual_seed(900 + seed)
    boxes, scores = clusters(gen, n_objects=20, per_object=15, dtype=torch.float32)
    idxs = torch.randint(0, 4, (len(boxes),), generator=gen)
    for threshold in (0.3, 0.5, 0.7):
        ours = _batched_nms_torch(boxes, scores, idxs, threshold)
        assert ours.tolist() == ops.batched_nms(boxes, scores, idxs, threshold).tolist()
        zeros = torch.zeros_like(idxs)
        ours = _batched_nms_torch(boxes, scores, zeros, threshold)
        assert ours.tolist() == ops.nms(boxes, scores, threshold).tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((torch.rand(3, 4), torch.tensor([0.1, float("nan"), 0.2])), r"scores .* index 1"),
        ((torch.tensor([[0.0, 0, 1, float("inf")]]), torch.rand(1)), r"boxes .* index \(0, 3\)"),
        ((torch.rand(3, 4), torch.rand(2)), r"match boxes \(3, 4\), got \(2,\)"),
        ((torch.rand(3, 3), torch.rand(3)), r"boxes must have shape \[\*, 4\]"),
    ],
)
def test_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        nms(*args, 0.5)
    with pytest.raises(ValueError, match=message):
        batched_nms(*args, torch.zeros(len(args[1]), dtype=torch.long), 0.5)


def test_bad_threshold_and_group_ids() -> None:
    boxes, scores = torch.rand(2, 4), torch.rand(2)
    with pytest.raises(ValueError, match=r"iou_threshold .* in \[0.0, 1.0\], got nan"):
        nms(boxes, scores, float("nan"))
    with pytest.raises(ValueError, match=r"idxs must be an integer tensor .* torch.bool"):
        batched_nms(boxes, scores, torch.tensor([True, False]), 0.5)
    with pytest.raises(ValueError, match=r"idxs must have shape \[N\] to match boxes \(2, 4\)"):
        batched_nms(boxes, scores, torch.zeros(3, dtype=torch.long), 0.5)


def detector_like(seed: int, n: int = 300, classes: int = 5) -> tuple[torch.Tensor, ...]:
    """One image of raw float32 detections: clusters of duplicates in a 1000-pixel image."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.rand(n // 10, 2, generator=gen) * 1000  # [n/10, 2]
    size = 20 + torch.rand(n // 10, 2, generator=gen) * 200  # [n/10, 2]
    c = centers.repeat_interleave(10, 0) + torch.randn(n, 2, generator=gen) * 8  # [n, 2]
    wh = size.repeat_interleave(10, 0) * (1 + torch.randn(n, 2, generator=gen) * 0.1)  # [n, 2]
    boxes = torch.cat([c - wh / 2, c + wh / 2], dim=1)  # [n, 4]
    scores = torch.rand(n, generator=gen)
    labels = torch.randint(0, classes, (n,), generator=gen)
    return boxes, scores, labels


def per_group_loop(boxes, scores, idxs, threshold: float, kernel=None) -> list[int]:
    """The reference: one nms (or ``kernel``) call per group, merged by score (lower index on
    ties)."""
    keep: list[int] = []
    for group in idxs.unique().tolist():
        members = (idxs == group).nonzero().flatten()
        if kernel is None:
            kept = nms(boxes[members], scores[members], threshold)
        else:
            kept = kernel(boxes[members].double(), scores[members].double(), threshold)
        keep += members[kept].tolist()
    return sorted(keep, key=lambda i: (-float(scores[i]), i))


def torch_kernel(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """A single-group NMS kernel without torchvision, for batched_nms_separated."""
    return _batched_nms_torch(boxes, scores, torch.zeros_like(scores, dtype=torch.long), threshold)


@pytest.mark.parametrize("image", range(12))
@pytest.mark.parametrize("offset", [0, 10_000, 100_000, 2**40])
def test_defect3_group_id_values_never_change_the_kept_set(image: int, offset: int) -> None:
    """Issue 10, defect 3: torchvision's float32 offsets changed the kept set once the ids
    (``image * C + class``) reached 10,000. Now exact for any ids, on both paths."""
    boxes, scores, labels = detector_like(image)
    idxs = labels + image * 5 + offset
    expected = per_group_loop(boxes, scores, labels, 0.5)
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == expected
    expected = per_group_loop(boxes, scores, labels, 0.5, torch_kernel)
    assert batched_nms_separated(boxes, scores, idxs, 0.5, torch_kernel).tolist() == expected


def test_defect3_matches_the_slow_greedy_reference() -> None:
    boxes, scores, labels = detector_like(99, n=120)
    idxs = labels * 7919 + 2**40
    expected = reference_batched(boxes, scores, idxs, 0.5)
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == expected
    assert batched_nms_separated(boxes, scores, idxs, 0.5, torch_kernel).tolist() == expected


def test_defect3_extreme_coordinates_fall_back_to_one_call_per_group() -> None:
    boxes, scores, labels = detector_like(3, n=60)
    boxes[:10] = boxes[:10] * 1e-30  # far below the shift's precision: not exact
    assert _separate_groups(boxes.double(), labels) is None
    idxs = labels + 100_000
    expected = per_group_loop(boxes, scores, labels, 0.5)
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == expected
    expected = per_group_loop(boxes, scores, labels, 0.5, torch_kernel)
    assert batched_nms_separated(boxes, scores, idxs, 0.5, torch_kernel).tolist() == expected
    huge = torch.tensor([[0.0, 0.0, 1.5e308, 1.5e308]] * 2, dtype=torch.float64)
    assert _separate_groups(huge, torch.tensor([0, 1])) is None
    assert batched_nms(
        huge, torch.tensor([0.5, 0.4], dtype=torch.float64), torch.tensor([0, 1]), 0.5
    ).tolist() == [0, 1]


def test_defect3_groups_are_exactly_separated() -> None:
    boxes, _, labels = detector_like(5)
    dense = torch.unique(labels + 2**40, return_inverse=True)[1]
    shifted = _separate_groups(boxes.double(), dense)
    assert shifted is not None
    torch.testing.assert_close(
        shifted - shifted[:, :1].sub(boxes[:, :1].double()), boxes.double(), rtol=0, atol=0
    )
    for g in range(int(dense.max())):  # each group's x range ends before the next one's starts
        assert shifted[dense == g][:, [0, 2]].max() < shifted[dense == g + 1][:, [0, 2]].min()


def test_ties_keep_the_lower_index_on_every_path() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    boxes = box.repeat(6, 1)
    scores = torch.tensor([0.5, 0.9, 0.9, 0.5, 0.9, 0.1])
    idxs = torch.tensor([0, 0, 0, 1, 1, 1])
    assert nms(boxes, scores, 0.5).tolist() == [1]
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == [1, 4]
    assert _batched_nms_torch(boxes, scores, idxs, 0.5).tolist() == [1, 4]
