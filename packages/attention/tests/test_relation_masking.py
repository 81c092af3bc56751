"""key_mask: masked objects are updated as queries but influence no one; padded batches."""

from __future__ import annotations

import pytest
import torch
from relation_reference import authors_relation, make_module, random_inputs

SEEDS = [0, 1, 2]
GEOMETRIES = ["pairwise", "none", "unary"]


def random_mask(n: int, seed: int) -> torch.Tensor:
    mask = torch.rand(n, generator=torch.Generator().manual_seed(seed)) > 0.4
    mask[0] = True  # at least one key
    mask[-1] = False  # at least one masked object
    return mask


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_masked_keys_have_no_effect(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)
    features, boxes = random_inputs(12, seed)
    mask = random_mask(12, seed)
    with torch.no_grad():
        out, weights = module(features, boxes, mask, return_weights=True)
        features2, boxes2 = features.clone(), boxes.clone()
        features2[~mask] = torch.randn_like(features2[~mask]) * 5
        boxes2[~mask] = boxes2[~mask].flip(0) * 0.5 + 7.0
        out2 = module(features2, boxes2, mask)
    torch.testing.assert_close(out2[mask], out[mask], rtol=1e-10, atol=1e-10)
    assert (out2[~mask] - out[~mask]).abs().max() > 1e-3  # masked objects are still queries
    assert (weights[:, :, ~mask] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 12, dtype=torch.float64))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_mask_equals_removing_the_keys(seed: int, geometry: str) -> None:
    """Equals the authors' module whose keys are the unmasked objects only (their nongt_dim)."""
    module = make_module(geometry, seed, chunk_size=5)
    features, boxes = random_inputs(14, seed)
    mask = random_mask(14, seed + 7)
    expected, expected_weights = authors_relation(module, features, boxes, mask)
    with torch.no_grad():
        out, weights = module(features, boxes, mask, return_weights=True)
        out_plain = module(features, boxes, mask)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out_plain, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(weights, expected_weights, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_padded_batch_equals_per_image_calls(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)
    sizes = [9, 4, 0, 7]
    features, boxes = random_inputs(max(sizes), seed, lead=(len(sizes),))
    mask = torch.zeros(len(sizes), max(sizes), dtype=torch.bool)
    for i, n in enumerate(sizes):
        mask[i, :n] = True
        boxes[i, n:] = 0.0  # padding: degenerate but finite boxes
        features[i, n:] = 0.0
    features.requires_grad_(True)
    out = module(features, boxes, mask)
    (grad,) = torch.autograd.grad(out[mask].square().sum(), features)
    for i, n in enumerate(sizes):
        x = features[i, :n].detach().requires_grad_(True)
        single = module(x, boxes[i, :n])
        torch.testing.assert_close(out[i, :n], single, rtol=1e-10, atol=1e-10)
        (single_grad,) = torch.autograd.grad(single.square().sum(), x)
        torch.testing.assert_close(grad[i, :n], single_grad, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(out[2], features[2])  # no key at all: unchanged
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_image_without_keys_is_unchanged(geometry: str) -> None:
    module = make_module(geometry, 0, chunk_size=3)
    features, boxes = random_inputs(8, 0, lead=(2,))
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1] = False
    features.requires_grad_(True)
    out, weights = module(features, boxes, mask, return_weights=True)
    torch.testing.assert_close(out[1], features[1], rtol=0, atol=0)
    assert (weights[1] == 0).all()
    assert torch.isfinite(out).all()
    grads = torch.autograd.grad(out.sum() + weights.sum(), [features, *module.parameters()])
    assert all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(grads[0][1], torch.ones(8, 32, dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(out[0], module(features[0], boxes[0]))


def test_nested_leading_dims() -> None:
    module = make_module("pairwise", 3, chunk_size=4)
    features, boxes = random_inputs(6, 3, lead=(2, 3))
    mask = torch.rand(2, 3, 6, generator=torch.Generator().manual_seed(0)) > 0.3
    with torch.no_grad():
        out, weights = module(features, boxes, mask, return_weights=True)
        assert out.shape == (2, 3, 6, 32)
        assert weights.shape == (2, 3, 4, 6, 6)
        for i in range(2):
            for j in range(3):
                single = module(features[i, j], boxes[i, j], mask[i, j])
                torch.testing.assert_close(out[i, j], single, rtol=1e-10, atol=1e-10)
