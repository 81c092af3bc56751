"""The helpers other packages build on: the unchecked relative geometry and the frequencies."""

from __future__ import annotations

import pytest
import torch

from relnet_geometry import (
    GEOMETRY_SCALE,
    geometry_embedding,
    inverse_frequencies,
    relative_geometry,
    relative_geometry_unchecked,
    sinusoid_embedding,
)


@pytest.mark.parametrize("seed", range(3))
def test_unchecked_relative_geometry_equals_the_checked_one(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(2, 7, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(2, 7, 2, generator=gen) * 50], dim=-1)
    keys = boxes[:, :5]
    assert torch.equal(relative_geometry_unchecked(boxes, keys), relative_geometry(boxes, keys))


@pytest.mark.parametrize(("num_inputs", "dim"), [(1, 128), (4, 64), (4, 16)])
def test_inverse_frequencies_rebuild_the_sinusoid_embedding(num_inputs: int, dim: int) -> None:
    x = torch.randn(3, num_inputs, dtype=torch.float64) * 5
    freqs = inverse_frequencies(num_inputs, dim, 1000.0, torch.float64, x.device)  # [dim/(2K)]
    assert freqs.shape == (dim // (2 * num_inputs),)
    angles = GEOMETRY_SCALE * x[..., None] * freqs  # [3, K, dim/(2K)]
    rebuilt = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # [3, dim]
    expected = sinusoid_embedding(x, dim, scale=GEOMETRY_SCALE)
    torch.testing.assert_close(rebuilt, expected, rtol=0, atol=1e-12)


def test_geometry_embedding_uses_the_public_scale() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]])
    expected = sinusoid_embedding(relative_geometry(boxes), 64, scale=GEOMETRY_SCALE)
    assert torch.equal(geometry_embedding(boxes, dim=64), expected)
