"""Bad input raises ValueError whose message names the argument and the offending value."""

from __future__ import annotations

import pytest
import torch

from relnet_geometry import (
    box_iou,
    check_boxes,
    geometry_embedding,
    rank_embedding,
    relative_geometry,
    sinusoid_embedding,
)

GOOD = torch.tensor([[0.0, 0.0, 10.0, 10.0], [2.0, 3.0, 8.0, 9.0]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: box_iou(GOOD.long(), GOOD), r"boxes1 must be a floating tensor.*int64"),
        (lambda: box_iou(GOOD, GOOD.int()), r"boxes2 must be a floating tensor.*int32"),
        (lambda: relative_geometry(GOOD.long()), r"boxes must be a floating tensor.*int64"),
        (lambda: geometry_embedding(GOOD.bool()), r"boxes must be a floating tensor.*bool"),
        (lambda: box_iou(GOOD[:, :3], GOOD), r"boxes1 must have shape \[\.\.\., N, 4\].*\(2, 3\)"),
        (lambda: relative_geometry(torch.zeros(4)), r"boxes must have shape .*\(4,\)"),
        (lambda: relative_geometry(torch.zeros(3, 5)), r"boxes must have shape .*\(3, 5\)"),
        (lambda: relative_geometry(GOOD, GOOD[:, :2]), r"key_boxes must have shape .*\(2, 2\)"),
    ],
)
def test_bad_boxes(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("fn", [relative_geometry, geometry_embedding, lambda b: box_iou(GOOD, b)])
def test_non_finite_boxes(bad: float, fn: object) -> None:
    boxes = GOOD.clone()
    boxes[1, 2] = bad
    name = "boxes2" if fn not in (relative_geometry, geometry_embedding) else "boxes"
    with pytest.raises(ValueError, match=rf"{name} holds NaN or inf.*index \[1\].*{bad}"):
        fn(boxes)  # type: ignore[operator]


def test_non_finite_batched_index() -> None:
    boxes = GOOD.repeat(3, 1, 1)  # [3, 2, 4]
    boxes[2, 0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"boxes holds NaN or inf, first at index \[2, 0\]"):
        check_boxes("boxes", boxes)


def test_not_a_tensor() -> None:
    with pytest.raises(TypeError, match=r"boxes must be a torch\.Tensor, got list"):
        relative_geometry(GOOD.tolist())  # type: ignore[arg-type]


@pytest.mark.parametrize(("k", "dim"), [(4, 12), (4, 0), (1, 7), (2, -4), (3, 8)])
def test_dim_not_divisible(k: int, dim: int) -> None:
    with pytest.raises(
        ValueError, match=rf"dim must be a positive multiple of 2K = {2 * k}.*{dim}"
    ):
        sinusoid_embedding(torch.zeros(5, k), dim)


def test_embedding_dim_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match="2K = 8, got 20"):
        geometry_embedding(GOOD, dim=20)
    with pytest.raises(ValueError, match="2K = 2, got 5"):
        rank_embedding(torch.arange(3), dim=5)
    with pytest.raises(ValueError, match=r"x must have shape \[\.\.\., K\].*\(3, 0\)"):
        sinusoid_embedding(torch.zeros(3, 0), 8)
