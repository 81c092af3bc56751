"""Every head kind: output and weight shapes, backward, empty inputs, flat and 5-d features."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import (
    HIDDEN,
    IN_CHANNELS,
    KINDS,
    RESOLUTION,
    random_boxes,
    random_features,
    small_head,
)

from relnet_heads import BoxHead


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("r", [(1, 1), (2, 0), (0, 2)])
def test_forward_backward_shapes(kind: str, r: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    head = small_head(kind, r=r)
    assert isinstance(head, BoxHead)
    assert head.out_dim == HIDDEN
    features = random_features(3, 7, generator=g).requires_grad_(True)  # [B, N, C, r, r]
    out, weights = head(features, random_boxes(3, 7, generator=g), return_weights=True)
    assert out.shape == (3, 7, HIDDEN)
    modules = sum(r) if kind == "2fc+rm" else 0
    assert len(weights) == modules
    for w in weights:
        assert w.shape == (3, 4, 7, 7)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 7))
    out.square().sum().backward()
    assert features.grad is not None
    assert features.grad.shape == features.shape
    assert all(p.grad is not None for p in head.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_flat_features_equal_5d(kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    head = small_head(kind)
    features, boxes = random_features(2, 5, generator=g), random_boxes(2, 5, generator=g)
    torch.testing.assert_close(head(features, boxes), head(features.flatten(2), boxes))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("b", "n"), [(2, 0), (0, 3), (0, 0)])
def test_empty(kind: str, b: int, n: int) -> None:
    head = small_head(kind)
    features = torch.zeros(b, n, IN_CHANNELS, RESOLUTION, RESOLUTION, requires_grad=True)
    out, weights = head(
        features, torch.zeros(b, n, 4), torch.ones(b, n, dtype=torch.bool), return_weights=True
    )
    assert out.shape == (b, n, HIDDEN)
    assert all(w.shape == (b, 4, n, n) for w in weights)
    out.sum().backward()


@pytest.mark.parametrize("kind", KINDS)
def test_float64(kind: str) -> None:
    g = torch.Generator().manual_seed(2)
    head = small_head(kind).double()
    features = random_features(1, 4, generator=g).double()
    out = head(features, random_boxes(1, 4, generator=g).double())
    assert out.dtype == torch.float64


def test_return_weights_false_returns_tensor() -> None:
    g = torch.Generator().manual_seed(3)
    head = small_head("2fc+rm")
    features, boxes = random_features(1, 4, generator=g), random_boxes(1, 4, generator=g)
    out = head(features, boxes)
    with_weights, _ = head(features, boxes, return_weights=True)
    torch.testing.assert_close(out, with_weights)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_cpu(kind: str) -> None:
    g = torch.Generator().manual_seed(4)
    head = small_head(kind)
    features, boxes = random_features(2, 6, generator=g), random_boxes(2, 6, generator=g)
    expected = head(features, boxes)
    got = head.cuda()(features.cuda(), boxes.cuda())
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
