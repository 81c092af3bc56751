"""relnet_geometry against the slow loop references of the DESIGN.md contract."""

from __future__ import annotations

import pytest
import torch
from geometry_reference import (
    random_boxes,
    ref_box_iou,
    ref_relative_geometry,
    ref_sinusoid_embedding,
)

from relnet_geometry import (
    box_iou,
    geometry_embedding,
    rank_embedding,
    relative_geometry,
    sinusoid_embedding,
)

SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_box_iou_matches_reference(seed: int) -> None:
    a, b = random_boxes(9, seed), random_boxes(6, seed + 100)
    b[0] = a[0]  # an identical pair
    b[1] = a[1] + torch.tensor([10.0, 5.0, 10.0, 5.0], dtype=torch.float64)  # an overlapping one
    b[2] = torch.tensor([5.0, 5.0, 5.0, 40.0], dtype=torch.float64)  # zero width
    expected = ref_box_iou(a, b)
    torch.testing.assert_close(box_iou(a, b), expected, rtol=1e-12, atol=1e-12)
    assert (expected > 0).sum() >= 2  # the test covers overlapping pairs, not only zeros


@pytest.mark.parametrize("seed", SEEDS)
def test_relative_geometry_matches_reference(seed: int) -> None:
    boxes = random_boxes(8, seed)
    boxes[3] = boxes[5]  # identical boxes: centre offsets hit the 1e-3 floor
    torch.testing.assert_close(
        relative_geometry(boxes), ref_relative_geometry(boxes), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_relative_geometry_rows_are_queries(seed: int) -> None:
    boxes = random_boxes(5, seed)
    keys = random_boxes(7, seed + 1)
    full = relative_geometry(torch.cat([boxes, keys]))  # [12, 12, 4]
    torch.testing.assert_close(relative_geometry(boxes, keys), full[:5, 5:], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("k", "dim", "wave_length", "scale"),
    [(1, 16, 1000.0, 1.0), (4, 64, 1000.0, 100.0), (3, 18, 50.0, 2.5)],
)
def test_sinusoid_embedding_matches_reference(
    seed: int, k: int, dim: int, wave_length: float, scale: float
) -> None:
    x = torch.randn(2, 5, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = ref_sinusoid_embedding(x, dim, wave_length, scale)
    out = sinusoid_embedding(x, dim, wave_length=wave_length, scale=scale)
    assert out.shape == (2, 5, dim)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_geometry_embedding_is_scaled_sinusoid_of_relative_geometry(seed: int) -> None:
    boxes = random_boxes(6, seed)
    expected = ref_sinusoid_embedding(ref_relative_geometry(boxes), 64, 1000.0, 100.0)
    torch.testing.assert_close(geometry_embedding(boxes), expected, rtol=1e-8, atol=1e-8)
    assert geometry_embedding(boxes, dim=32).shape == (6, 6, 32)


def test_rank_embedding_matches_reference() -> None:
    ranks = torch.arange(7)  # 0-based ranks, integer
    expected = ref_sinusoid_embedding(ranks[:, None].double(), 128)
    out = rank_embedding(ranks)
    assert out.dtype == torch.get_default_dtype()
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    small = ref_sinusoid_embedding(ranks[:, None].double(), 16)
    torch.testing.assert_close(rank_embedding(ranks.double(), dim=16), small, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_batched_equals_unbatched(seed: int) -> None:
    boxes = torch.stack([random_boxes(6, seed + i) for i in range(3)])  # [3, 6, 4]
    others = torch.stack([random_boxes(4, seed + 10 + i) for i in range(3)])  # [3, 4, 4]
    iou = box_iou(boxes, others)  # [3, 6, 4]
    rel = relative_geometry(boxes)  # [3, 6, 6, 4]
    emb = geometry_embedding(boxes, dim=32)  # [3, 6, 6, 32]
    for i in range(3):
        torch.testing.assert_close(iou[i], box_iou(boxes[i], others[i]), rtol=0, atol=0)
        torch.testing.assert_close(rel[i], relative_geometry(boxes[i]), rtol=0, atol=1e-15)
        torch.testing.assert_close(emb[i], geometry_embedding(boxes[i], dim=32), rtol=0, atol=1e-15)


def test_empty_inputs() -> None:
    empty = torch.zeros(0, 4)
    boxes = random_boxes(3, 0, torch.float32)
    assert box_iou(empty, boxes).shape == (0, 3)
    assert box_iou(boxes, empty).shape == (3, 0)
    assert box_iou(empty, empty).shape == (0, 0)
    assert relative_geometry(empty).shape == (0, 0, 4)
    assert geometry_embedding(empty, dim=16).shape == (0, 0, 16)
    assert sinusoid_embedding(torch.zeros(0, 2), dim=8).shape == (0, 8)
    assert rank_embedding(torch.zeros(0, dtype=torch.long)).shape == (0, 128)
    assert box_iou(torch.zeros(2, 0, 4), torch.zeros(2, 5, 4)).shape == (2, 0, 5)
