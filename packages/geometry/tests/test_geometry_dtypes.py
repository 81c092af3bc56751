"""Dtypes and degenerate boxes: half types are computed in float32, nothing is NaN or inf."""

from __future__ import annotations

import pytest
import torch
from geometry_reference import random_boxes, ref_box_iou, ref_relative_geometry

from relnet_geometry import box_iou, geometry_embedding, relative_geometry, sinusoid_embedding

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
# Tolerances against float64 references; half types are rounded once, on return.
TOL = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 2e-2}


def degenerate_boxes(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Zero width, zero height, a point, negative size, identical boxes, a normal box."""
    return torch.tensor(
        [
            [10.0, 10.0, 10.0, 30.0],  # zero width
            [10.0, 10.0, 40.0, 10.0],  # zero height
            [5.0, 5.0, 5.0, 5.0],  # a point
            [50.0, 50.0, 20.0, 30.0],  # negative size
            [0.0, 0.0, 20.0, 20.0],
            [0.0, 0.0, 20.0, 20.0],  # identical to the previous box
        ],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_dtypes_match_reference(dtype: torch.dtype, seed: int) -> None:
    # Box coordinates up to 1000 pixels: areas overflow float16 unless computed in float32.
    boxes = random_boxes(7, seed) * 1.4
    boxes_d = boxes.to(dtype)
    exact = boxes_d.double()  # the values the function actually receives
    iou = box_iou(boxes_d, boxes_d)
    rel = relative_geometry(boxes_d)
    emb = geometry_embedding(boxes_d, dim=16)
    assert iou.dtype == rel.dtype == emb.dtype == dtype
    tol = TOL[dtype]
    torch.testing.assert_close(iou.double(), ref_box_iou(exact, exact), rtol=tol, atol=tol)
    torch.testing.assert_close(rel.double(), ref_relative_geometry(exact), rtol=tol, atol=tol)
    assert torch.isfinite(emb).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_is_computed_in_float32(dtype: torch.dtype) -> None:
    x = torch.tensor([[3000.0, 0.5], [-700.0, 12.0]], dtype=dtype)
    expected = sinusoid_embedding(x.float(), 32, scale=100.0).to(dtype)
    torch.testing.assert_close(sinusoid_embedding(x, 32, scale=100.0), expected, rtol=0, atol=0)
    boxes = random_boxes(5, 3).to(dtype)
    torch.testing.assert_close(
        relative_geometry(boxes), relative_geometry(boxes.float()).to(dtype), rtol=0, atol=0
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_degenerate_boxes_are_finite(dtype: torch.dtype) -> None:
    boxes = degenerate_boxes(dtype)
    iou = box_iou(boxes, boxes)
    assert torch.isfinite(iou).all()
    assert ((iou >= 0) & (iou <= 1)).all()
    assert iou[4, 5] == 1  # identical boxes
    assert (iou[:4] == 0).all()  # empty boxes have zero area and overlap nothing
    assert torch.isfinite(relative_geometry(boxes)).all()
    assert torch.isfinite(geometry_embedding(boxes, dim=16)).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_degenerate_boxes_have_finite_gradients(dtype: torch.dtype) -> None:
    boxes = torch.cat([degenerate_boxes(dtype), random_boxes(3, 0, dtype)]).requires_grad_(True)
    for fn in (
        lambda b: box_iou(b, b),
        relative_geometry,
        lambda b: geometry_embedding(b, dim=16),
    ):
        (grad,) = torch.autograd.grad(fn(boxes).square().sum(), boxes)
        assert torch.isfinite(grad).all(), fn
    (grad,) = torch.autograd.grad(relative_geometry(boxes).sum(), boxes)
    assert grad[6:].abs().sum() > 0  # gradients do reach the normal boxes


def test_gradients_match_finite_differences() -> None:
    boxes = random_boxes(4, 7).requires_grad_(True)
    torch.autograd.gradcheck(relative_geometry, (boxes,))
    torch.autograd.gradcheck(lambda b: box_iou(b, b.flip(0) + 5.0), (boxes,))
    torch.autograd.gradcheck(lambda b: geometry_embedding(b, dim=8) * 1e-2, (boxes,))


def test_integer_ranks_use_default_dtype() -> None:
    out = sinusoid_embedding(torch.tensor([[0], [3]]), dim=4)
    assert out.dtype == torch.get_default_dtype()
    torch.testing.assert_close(out[0], torch.tensor([0.0, 0.0, 1.0, 1.0]))
