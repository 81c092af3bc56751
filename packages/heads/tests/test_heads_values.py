"""The heads' forward values against a hand-written forward on fixed weights (issue 17): the
order of fc, residual / relation block and ReLU, written out with plain matrix products."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import HIDDEN, IN_CHANNELS, RESOLUTION, random_boxes, small_head
from torch import Tensor


def fixed_weights(head: torch.nn.Module) -> None:
    """Deterministic weights of mixed sign, so that a ReLU in the wrong place changes values."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)


def linear(x: Tensor, layer: torch.nn.Linear) -> Tensor:
    return x @ layer.weight.T + layer.bias


def relu(x: Tensor) -> Tensor:
    return x.clamp(min=0)


def inputs() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, IN_CHANNELS, RESOLUTION, RESOLUTION, generator=g, dtype=torch.float64)
    return x, random_boxes(2, 5, generator=g).double()


@pytest.mark.parametrize(("kind", "layers"), [("2fc", 2), ("3fc", 3)])
def test_fc_heads_are_fc_relu_per_layer(kind: str, layers: int) -> None:
    head = small_head(kind).double()
    fixed_weights(head)
    x, boxes = inputs()
    expected = x.flatten(2)  # [B, N, C r r]
    fcs = list(head.fcs)  # type: ignore[attr-defined]
    assert len(fcs) == layers
    for fc in fcs:
        expected = relu(linear(expected, fc))
    torch.testing.assert_close(head(x, boxes), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r", [(1, 1), (2, 0), (0, 2)])
def test_residual_head_is_fc_then_blocks_then_relu(r: tuple[int, int]) -> None:
    head = small_head("2fc+res", r=r).double()
    fixed_weights(head)
    x, boxes = inputs()
    expected = x.flatten(2)
    for fc, blocks in ((head.fc6, head.fc6_blocks), (head.fc7, head.fc7_blocks)):  # type: ignore[attr-defined]
        expected = linear(expected, fc)
        assert len(blocks) == (r[0] if fc is head.fc6 else r[1])  # type: ignore[attr-defined]
        for block in blocks:
            a, b, c = (m for m in block.branch if isinstance(m, torch.nn.Linear))
            expected = expected + linear(relu(linear(relu(linear(expected, a)), b)), c)
        expected = relu(expected)
    out = head(x, boxes)
    assert out.shape == (2, 5, HIDDEN)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_relation_head_is_fc_then_relation_then_relu() -> None:
    """Eq. 10: ``relu(RM(fc(x)))`` per fc, the relation module as the attention package gives it
    (its own values are checked against the authors' form in relnet-attention)."""
    head = small_head("2fc+rm").double()
    fixed_weights(head)
    x, boxes = inputs()
    expected = x.flatten(2)
    for fc, modules in ((head.fc6, head.fc6_relations), (head.fc7, head.fc7_relations)):  # type: ignore[attr-defined]
        expected = linear(expected, fc)
        for module in modules:
            expected = module(expected, boxes)
        expected = relu(expected)
    torch.testing.assert_close(head(x, boxes), expected, rtol=1e-12, atol=1e-12)
