"""Property tests: invariances of the relative geometry, symmetry and range of IoU."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from relnet_geometry import box_iou, relative_geometry


@st.composite
def boxes_strategy(draw: st.DrawFn, min_size: float = 1.0) -> torch.Tensor:
    """1 to 8 boxes ``(x1, y1, x2, y2)`` in float64 with sizes in ``[min_size, 400]``."""
    n = draw(st.integers(min_value=1, max_value=8))
    coord = st.floats(min_value=-500.0, max_value=500.0, allow_nan=False)
    size = st.floats(min_value=min_size, max_value=400.0, allow_nan=False)
    rows = []
    for _ in range(n):
        x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
        rows.append([x, y, x + w, y + h])
    if n > 1 and draw(st.booleans()):
        rows[-1] = list(rows[0])  # identical boxes
    return torch.tensor(rows, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(
    boxes=boxes_strategy(),
    dx=st.floats(min_value=-1e3, max_value=1e3),
    dy=st.floats(min_value=-1e3, max_value=1e3),
)
def test_relative_geometry_is_translation_invariant(
    boxes: torch.Tensor, dx: float, dy: float
) -> None:
    shift = torch.tensor([dx, dy, dx, dy], dtype=torch.float64)
    torch.testing.assert_close(
        relative_geometry(boxes + shift), relative_geometry(boxes), rtol=1e-6, atol=1e-6
    )


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_strategy(), scale=st.floats(min_value=0.05, max_value=20.0))
def test_relative_geometry_is_scale_invariant(boxes: torch.Tensor, scale: float) -> None:
    torch.testing.assert_close(
        relative_geometry(boxes * scale), relative_geometry(boxes), rtol=1e-6, atol=1e-6
    )


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_strategy())
def test_relative_geometry_structure(boxes: torch.Tensor) -> None:
    rel = relative_geometry(boxes)  # [N, N, 4]
    diag = rel.diagonal(dim1=0, dim2=1)  # [4, N]: an object against itself
    torch.testing.assert_close(diag[:2], torch.full_like(diag[:2], torch.log(torch.tensor(1e-3))))
    torch.testing.assert_close(diag[2:], torch.zeros_like(diag[2:]))
    # log(w_i / w_j) = -log(w_j / w_i)
    torch.testing.assert_close(rel[..., 2:], -rel.transpose(0, 1)[..., 2:])


@settings(max_examples=80, deadline=None)
@given(a=boxes_strategy(min_size=0.0), b=boxes_strategy(min_size=0.0))
def test_iou_is_symmetric_and_in_unit_interval(a: torch.Tensor, b: torch.Tensor) -> None:
    iou = box_iou(a, b)
    assert torch.equal(iou, box_iou(b, a).T)
    assert ((iou >= 0) & (iou <= 1)).all()
    self_iou = box_iou(a, a).diagonal()
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    torch.testing.assert_close(self_iou[area > 1e-6], torch.ones_like(self_iou[area > 1e-6]))
    assert (self_iou[area <= 0] == 0).all()  # an empty box overlaps nothing, not even itself


@settings(max_examples=40, deadline=None)
@given(a=boxes_strategy(), scale=st.floats(min_value=0.05, max_value=20.0))
def test_iou_is_scale_invariant(a: torch.Tensor, scale: float) -> None:
    b = a.flip(0) + 3.0
    torch.testing.assert_close(box_iou(a * scale, b * scale), box_iou(a, b), rtol=1e-9, atol=1e-9)
