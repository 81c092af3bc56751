"""RelationModule against the authors' formulation (relation_reference.py), in float64."""

from __future__ import annotations

import pytest
import torch
from relation_reference import authors_relation, make_module, random_inputs

from relnet_attention.geometry_bias import geometry_log_weight
from relnet_geometry import geometry_embedding

SEEDS = [0, 1, 2]
GEOMETRIES = ["pairwise", "none", "unary"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("chunk_size", [3, 64])  # several chunks, and one chunk
def test_matches_authors_formulation(seed: int, geometry: str, chunk_size: int) -> None:
    module = make_module(geometry, seed, chunk_size)
    features, boxes = random_inputs(13, seed)
    expected, expected_weights = authors_relation(module, features, boxes)
    with torch.no_grad():
        out = module(features, boxes)
        out_w, weights = module(features, boxes, return_weights=True)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out_w, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(weights, expected_weights, rtol=1e-6, atol=1e-6)
    # The test is only meaningful if the relation feature is not negligible.
    assert (expected - features).abs().max() > 1e-2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_gradients_match_authors_formulation(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)  # checkpointed chunks
    features, boxes = random_inputs(11, seed)
    grad_out = torch.randn(11, 32, dtype=torch.float64)
    params = list(module.parameters())

    features.requires_grad_(True)
    boxes.requires_grad_(True)
    inputs = [features, boxes, *params]
    out = module(features, boxes)
    ours = torch.autograd.grad((out * grad_out).sum(), inputs, materialize_grads=True)
    expected_out, _ = authors_relation(module, features, boxes)
    theirs = torch.autograd.grad((expected_out * grad_out).sum(), inputs, materialize_grads=True)
    for name, a, b in zip(
        ["features", "boxes", *dict(module.named_parameters())], ours, theirs, strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("seed", SEEDS)
def test_return_weights(seed: int) -> None:
    module = make_module("pairwise", seed, chunk_size=4)
    features, boxes = random_inputs(10, seed, lead=(2,))
    out, weights = module(features, boxes, return_weights=True)
    assert weights.shape == (2, 4, 10, 10)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 10, dtype=torch.float64))
    assert (weights >= 0).all()
    torch.testing.assert_close(out, module(features, boxes), rtol=1e-10, atol=1e-10)
    for i in range(2):
        _, expected = authors_relation(module, features[i], boxes[i])
        torch.testing.assert_close(weights[i], expected, rtol=1e-6, atol=1e-6)
    # Gradients flow through the returned weights as well.
    (grad,) = torch.autograd.grad(weights[:, :, 0, 1].sum(), module.key.weight)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_geometry_weight_matters(seed: int) -> None:
    """Pairwise differs from none with the same appearance weights: the bias is not a no-op."""
    pairwise = make_module("pairwise", seed)
    none = make_module("none", seed)
    none.load_state_dict(pairwise.state_dict(), strict=False)
    features, boxes = random_inputs(9, seed)
    with torch.no_grad():
        assert (pairwise(features, boxes) - none(features, boxes)).abs().max() > 1e-3


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geo_dim", [8, 16, 64])
def test_geometry_bias_equals_projected_geometry_embedding(seed: int, geo_dim: int) -> None:
    """The split sin/cos projection equals ``W_G`` applied to ``geometry_embedding``."""
    torch.manual_seed(seed)
    proj = torch.nn.Linear(geo_dim, 4).double()
    _, boxes = random_inputs(9, seed, lead=(2,))
    rows = boxes[:, 2:6]  # [2, 4, 4]: a chunk of queries
    expected = proj(geometry_embedding(rows, geo_dim, key_boxes=boxes))  # [2, 4, 9, 4]
    expected = expected.clamp(min=1e-6).log().permute(0, 3, 1, 2)  # [2, Nr, 4, 9]
    out = geometry_log_weight(rows, boxes, proj, geo_dim)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
