"""Soft-NMS against Bodla et al.'s pseudo-code run literally, and against ensemble-boxes."""

from __future__ import annotations

import math

import pytest
import torch
from box_reference import iou_py
from hypothesis import given, settings
from hypothesis import strategies as st

from relnet_dedup import batched_soft_nms, soft_nms
from relnet_dedup import grouping as _groups

METHODS = ("gaussian", "linear")


def reference(boxes, scores, sigma=0.5, nt=0.3, thresh=0.001, method="gaussian"):
    """Bodla et al. 2017, Fig. 2: no early exit, no pre-filtering, the threshold applied last."""
    b, s = boxes.tolist(), scores.tolist()
    remaining, kept = list(range(len(b))), []
    while remaining:
        m = max(remaining, key=lambda i: (s[i], -i))  # argmax, the lower index on ties
        kept.append((m, s[m]))
        remaining.remove(m)
        for i in remaining:
            iou = iou_py(b[m], b[i])
            if method == "gaussian":
                s[i] *= math.exp(-iou * iou / sigma)
            elif iou > nt:
                s[i] *= 1.0 - iou
    kept = [(i, score) for i, score in kept if score >= thresh]
    return [i for i, _ in kept], [score for _, score in kept]


def reference_batched(boxes, scores, idxs, **kwargs):
    kept = []
    for group in idxs.unique().tolist():
        members = (idxs == group).nonzero().flatten()
        keep, new = reference(boxes[members], scores[members], **kwargs)
        kept += zip(members[keep].tolist(), new, strict=True)
    kept.sort(key=lambda pair: (-pair[1], pair[0]))
    return [i for i, _ in kept], [score for _, score in kept]


def detections(gen: torch.Generator, n_objects: int, per_object: int, size: float = 100.0):
    """Clusters of duplicates with mostly small scores (many below the threshold)."""
    xy = torch.rand(n_objects, 2, generator=gen, dtype=torch.float64) * size * 0.6
    wh = torch.rand(n_objects, 2, generator=gen, dtype=torch.float64) * size * 0.3 + 1
    boxes = torch.cat([xy, xy + wh], 1).repeat_interleave(per_object, 0)  # [N, 4]
    boxes = boxes + torch.randn(boxes.shape, generator=gen, dtype=torch.float64) * size * 0.02
    boxes = torch.cat([boxes[:, :2], boxes[:, :2] + (boxes[:, 2:] - boxes[:, :2]).abs() + 0.1], 1)
    boxes = boxes.clamp(0, size)
    scores = torch.rand(len(boxes), generator=gen, dtype=torch.float64) ** 3
    return boxes, scores


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("method", METHODS)
def test_matches_reference(seed: int, method: str) -> None:
    gen = torch.Generator().manual_seed(seed)
    boxes, scores = detections(gen, n_objects=4, per_object=10)
    kwargs = {"sigma": 0.3 + seed / 20, "nt": 0.2 + seed / 40, "thresh": 0.01, "method": method}
    if seed % 4 == 0:
        scores = (scores * 5).round() / 5  # equal scores: the lower index first
    boxes[::9, 2:] = boxes[::9, :2]  # degenerate boxes overlap nothing
    keep, new = soft_nms(
        boxes, scores, kwargs["sigma"], kwargs["nt"], kwargs["thresh"], method=method
    )
    expected_keep, expected_new = reference(boxes, scores, **kwargs)
    assert keep.tolist() == expected_keep
    torch.testing.assert_close(new, torch.tensor(expected_new, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(12))
def test_batched_matches_reference(seed: int, monkeypatch) -> None:
    gen = torch.Generator().manual_seed(300 + seed)
    boxes, scores = detections(gen, n_objects=6, per_object=8)
    idxs = torch.randint(-3, 4, (len(boxes),), generator=gen)
    if seed % 2 == 0:  # equal scores across and within groups: the lower index first
        scores = (scores * 4).round() / 4
    if seed % 3 == 0:  # a tiny budget: one group per chunk, still the same result
        monkeypatch.setattr(_groups, "PAIRWISE_BUDGET", 1)
    method = METHODS[seed % 2]
    keep, new = batched_soft_nms(boxes, scores, idxs, method=method, score_threshold=0.005)
    expected_keep, expected_new = reference_batched(
        boxes, scores, idxs, method=method, thresh=0.005
    )
    assert keep.tolist() == expected_keep
    torch.testing.assert_close(new, torch.tensor(expected_new, dtype=torch.float64))


def test_dtypes_and_edge_cases() -> None:
    gen = torch.Generator().manual_seed(7)
    boxes, scores = detections(gen, n_objects=3, per_object=5)
    keep64, new64 = soft_nms(boxes, scores)
    keep32, new32 = soft_nms(boxes.float(), scores.float())
    assert new32.dtype == torch.float32
    assert keep32.tolist() == keep64.tolist()
    torch.testing.assert_close(new32, new64.float())
    for half in (torch.float16, torch.bfloat16):  # computed in float32, returned in their dtype
        keep16, new16 = soft_nms(boxes.to(half), scores.to(half))
        assert new16.dtype == half
        assert bool(torch.isfinite(new16).all())
        assert len(keep16) > 0
    empty_keep, empty_new = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert empty_keep.shape == (0,)
    assert empty_new.shape == (0,)
    zeros = torch.zeros(0, dtype=torch.long)
    assert batched_soft_nms(torch.zeros(0, 4), torch.zeros(0), zeros)[0].shape == (0,)
    keep, new = soft_nms(boxes, torch.zeros(len(boxes)))  # all scores zero: nothing survives
    assert keep.shape == (0,)
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    keep, new = batched_soft_nms(box, torch.tensor([0.5]), torch.tensor([3]))
    assert keep.tolist() == [0]
    assert new.tolist() == [0.5]
    same = box.repeat(3, 1)  # identical boxes, linear: the others decay to exactly 0 and go
    keep, new = soft_nms(same, torch.tensor([0.5, 0.7, 0.6]), method="linear")
    assert keep.tolist() == [1]
    assert new.tolist() == [pytest.approx(0.7)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 40),
    method=st.sampled_from(METHODS),
    groups=st.integers(1, 4),
)
def test_equivariance(seed: int, n: int, method: str, groups: int) -> None:
    """Permuting the input permutes the kept indices; scaling all boxes by 2 changes nothing."""
    gen = torch.Generator().manual_seed(seed)
    boxes, _ = detections(gen, n_objects=1 + n // 8, per_object=8)
    boxes = boxes[:n]
    scores = torch.randperm(n, generator=gen).double().add(1) / n  # distinct, in (0, 1]
    idxs = torch.randint(0, groups, (n,), generator=gen)
    keep, new = batched_soft_nms(boxes, scores, idxs, method=method)
    perm = torch.randperm(n, generator=gen)
    keep_p, new_p = batched_soft_nms(boxes[perm], scores[perm], idxs[perm], method=method)
    assert perm[keep_p].tolist() == keep.tolist()
    torch.testing.assert_close(new_p, new)
    keep_s, new_s = batched_soft_nms(boxes * 2, scores, idxs, method=method)
    assert keep_s.tolist() == keep.tolist()
    torch.testing.assert_close(new_s, new)


def ensemble_boxes_soft_nms(boxes, scores, labels, method: str, **kwargs):
    """ensemble-boxes' soft_nms, in its conventions: coordinates in [0, 1], method 2 = gaussian."""
    eb = pytest.importorskip("ensemble_boxes")
    code = {"gaussian": 2, "linear": 1}[method]
    out_boxes, out_scores, out_labels = eb.soft_nms(
        [boxes.numpy() / 100.0], [scores.numpy()], [labels.numpy()], method=code, **kwargs
    )
    return out_boxes, out_scores, out_labels


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("method", METHODS)
def test_matches_ensemble_boxes(seed: int, method: str) -> None:
    gen = torch.Generator().manual_seed(700 + seed)
    boxes, scores = detections(gen, n_objects=8, per_object=10)
    labels = torch.randint(0, 3, (len(boxes),), generator=gen)
    params = {"iou_thr": 0.3, "sigma": 0.5, "thresh": 0.01}
    _, eb_scores, eb_labels = ensemble_boxes_soft_nms(boxes, scores, labels, method, **params)
    keep, _ = batched_soft_nms(boxes / 100.0, scores, labels, 0.5, 0.3, 0.01, method=method)
    # ensemble-boxes returns the original scores of the kept boxes; they are distinct here
    ours = sorted(zip(labels[keep].tolist(), scores[keep].tolist(), strict=True))
    assert ours == sorted(zip(eb_labels.astype(int).tolist(), eb_scores.tolist(), strict=True))
    # its inner routine leaves the decayed scores in the array it was given, in selection order
    from ensemble_boxes.ensemble_boxes_nms import cpu_soft_nms_float

    for label in labels.unique().tolist():
        members = (labels == label).nonzero().flatten()
        decayed = scores[members].numpy().copy()
        code = {"gaussian": 2, "linear": 1}[method]
        eb_keep = cpu_soft_nms_float(boxes[members].numpy() / 100, decayed, 0.3, 0.5, 0.01, code)
        keep, new = soft_nms(boxes[members] / 100, scores[members], 0.5, 0.3, 0.01, method)
        assert keep.tolist() == eb_keep.tolist()
        torch.testing.assert_close(new, torch.from_numpy(decayed[decayed > 0.01]))


BOXES = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
SCORES = torch.tensor([0.9, 0.8, 0.7])
IDXS = torch.tensor([0, 1, 0])


def run_both(boxes=BOXES, scores=SCORES, idxs=IDXS, **kwargs) -> None:
    soft_nms(boxes, scores, **kwargs)
    batched_soft_nms(boxes, scores, idxs, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"scores": torch.tensor([0.9, math.nan, 0.1])},
            r"scores holds NaN or inf, first at index 1",
        ),
        ({"scores": torch.tensor([0.9, 0.1, math.inf])}, r"scores .* index 2"),
        ({"boxes": BOXES.index_fill(0, torch.tensor([2]), math.inf)}, r"boxes .* index \(2, 0\)"),
        ({"scores": torch.rand(4)}, r"scores must have shape \[N\] .* \(3, 4\), got \(4,\)"),
        ({"boxes": torch.rand(3, 5)}, r"boxes must have shape \[\*, 4\], got \(3, 5\)"),
        ({"boxes": BOXES.long()}, r"boxes must be a floating tensor"),
        ({"scores": SCORES.tolist()}, r"scores must be a torch.Tensor"),
        ({"scores": torch.tensor([1, 0, 0])}, r"scores must be a floating tensor"),
        ({"method": "hard"}, r"method must be one of"),
        ({"sigma": 0.0}, r"sigma must be a number in \(0.0, inf\), got 0.0"),
        ({"sigma": -1.0}, r"sigma must be a number in \(0.0, inf\), got -1.0"),
        ({"sigma": math.nan}, r"sigma must be a number in \(0.0, inf\), got nan"),
        ({"iou_threshold": 1.5}, r"iou_threshold must be a number in \[0.0, 1.0\], got 1.5"),
        ({"score_threshold": 0.0}, r"score_threshold must be a number in \(0.0, inf\), got 0.0"),
    ],
)
def test_bad_input(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        run_both(**kwargs)


def test_bad_group_ids() -> None:
    with pytest.raises(ValueError, match=r"labels must be an integer tensor .* torch.float32"):
        batched_soft_nms(BOXES, SCORES, IDXS.float())
    with pytest.raises(ValueError, match=r"labels must have shape \[N\] to match boxes \(3, 4\)"):
        batched_soft_nms(BOXES, SCORES, IDXS[:2])


@pytest.mark.parametrize("scale", [1e-5, 1e-4, 1.0, 1e3])
def test_tiny_boxes_decay_as_their_scaled_up_copies(scale: float) -> None:
    """IoU is scale invariant: boxes whose areas are below float32 epsilon (normalised
    coordinates) decay exactly like the same boxes in pixels."""
    boxes = torch.tensor([[0.0, 0.0, 3.0, 3.0], [1.0, 0.0, 4.0, 3.0], [10.0, 10.0, 12.0, 12.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep, new = soft_nms(boxes * scale, scores)
    ref_keep, ref_new = soft_nms(boxes, scores)
    assert keep.tolist() == ref_keep.tolist()
    torch.testing.assert_close(new, ref_new)
