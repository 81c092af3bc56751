"""box_iou over the whole finite range (issue 10, defect 10) and mismatched batch dims."""

from __future__ import annotations

import pytest
import torch

from relnet_geometry import box_iou, relative_geometry

UNIT = torch.tensor(
    [[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 2.0], [5.0, 5.0, 6.0, 6.0]]
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-30, 1e-4, 1.0, 1e19, 1e30, 1e37])
def test_defect10_iou_is_finite_and_scale_invariant_over_the_range(
    dtype: torch.dtype, scale: float
) -> None:
    """Issue 10, defect 10: sides above about 1.8e19 overflowed the float32 areas into NaN."""
    expected = box_iou(UNIT.double(), UNIT.double())  # [4, 4]
    iou = box_iou((UNIT * scale).to(dtype), (UNIT * scale).to(dtype))
    assert iou.dtype == dtype
    assert bool(torch.isfinite(iou).all())
    torch.testing.assert_close(iou.double(), expected, rtol=1e-6, atol=1e-7)


def test_defect10_the_extremes_of_float32() -> None:
    big = torch.finfo(torch.float32).max
    boxes = torch.tensor([[-big, -big, big, big], [0.0, 0.0, big, big], [0.0, 0.0, 1.0, 1.0]])
    iou = box_iou(boxes, boxes)
    assert bool(torch.isfinite(iou).all())
    assert iou.diagonal()[:2].tolist() == [1.0, 1.0]
    assert iou[0, 1].item() == pytest.approx(0.25)
    assert ((iou >= 0) & (iou <= 1)).all()
    tiny = torch.tensor([[0.0, 0.0, 1e-44, 1e-44], [0.0, 0.0, 1e-45, 1e-44]])  # subnormal
    assert bool(torch.isfinite(box_iou(tiny, tiny)).all())


def test_defect10_huge_boxes_have_finite_gradients() -> None:
    boxes = (UNIT * 1e30).requires_grad_()
    box_iou(boxes, boxes.detach() + 1e29).sum().backward()
    assert boxes.grad is not None
    assert bool(torch.isfinite(boxes.grad).all())


def test_normal_boxes_are_not_rescaled() -> None:
    """The range guard changes nothing for ordinary coordinates: bitwise the plain formula."""
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(50, 2, generator=gen) * 1000
    boxes = torch.cat([xy, xy + torch.rand(50, 2, generator=gen) * 100], 1)  # [50, 4]
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(-1)
    plain = inter / (area[:, None] + area[None, :] - inter)
    assert torch.equal(box_iou(boxes, boxes), plain)


def test_mismatched_batch_dims_name_the_argument() -> None:
    """Issue 10, unclear error: a broadcasting RuntimeError from inside the function."""
    boxes, keys = torch.rand(2, 3, 4), torch.rand(3, 3, 4)
    with pytest.raises(ValueError, match=r"key_boxes must have leading dims that broadcast with"):
        relative_geometry(boxes, keys)
    with pytest.raises(ValueError, match=r"boxes2 must have leading dims .* \(2,\), got \(3,\)"):
        box_iou(boxes, keys)
    assert relative_geometry(boxes, torch.rand(1, 5, 4)).shape == (2, 3, 5, 4)  # broadcasts
    assert box_iou(torch.rand(4, 2, 3, 4), torch.rand(2, 5, 4)).shape == (4, 2, 3, 5)
