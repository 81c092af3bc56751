"""Dtypes, autocast, gradients, tiny and degenerate inputs, and the CUDA path."""

from __future__ import annotations

import pytest
import torch
from relation_reference import authors_relation, make_module, random_inputs

from relnet_attention import RelationModule


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
def test_float32_is_close_to_float64(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)
    features, boxes = random_inputs(12, seed)
    with torch.no_grad():
        expected = module(features, boxes)
        out = module.float()(features.float(), boxes.float())
    assert out.dtype == torch.float32
    # log(max(w_G, 1e-6)) amplifies rounding where w_G is small: compare the relation features.
    rel, expected_rel = out.double() - features, expected - features
    assert (rel - expected_rel).abs().max() / expected_rel.abs().max() < 1e-3


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("geometry", ["pairwise", "none"])
def test_autocast_bfloat16_on_cpu(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4, dtype=torch.float32)
    features, boxes = random_inputs(12, seed, dtype=torch.float32)
    features.requires_grad_(True)
    expected = module(features, boxes)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(features, boxes)
    assert torch.isfinite(out).all()
    rel, expected_rel = out.float() - features, expected - features  # the relation features
    err = (rel - expected_rel).abs().max() / expected_rel.abs().max()
    assert err < 0.05, err
    grads = torch.autograd.grad(out.float().sum(), [features, *module.parameters()])
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
def test_gradients_are_finite_with_degenerate_boxes(geometry: str) -> None:
    module = make_module(geometry, 0, chunk_size=3)
    features, boxes = random_inputs(7, 0)
    boxes[1] = torch.tensor([10.0, 10.0, 10.0, 10.0])  # a point
    boxes[2] = torch.tensor([50.0, 50.0, 20.0, 20.0])  # negative size
    boxes[3] = boxes[4]  # identical boxes
    features.requires_grad_(True)
    boxes.requires_grad_(True)
    out = module(features, boxes)
    assert torch.isfinite(out).all()
    inputs = [features, boxes, *module.parameters()]
    grads = torch.autograd.grad(out.square().sum(), inputs, materialize_grads=True)
    assert all(torch.isfinite(g).all() for g in grads)


def test_gradcheck_float64() -> None:
    module = make_module("pairwise", 0, chunk_size=2)  # two checkpointed chunks
    features, boxes = random_inputs(4, 0)
    features.requires_grad_(True)
    boxes.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, b: module(f, b), (features, boxes), fast_mode=True)


@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
@pytest.mark.parametrize("lead", [(), (3,)])
def test_empty_and_single_object(geometry: str, lead: tuple[int, ...]) -> None:
    module = make_module(geometry, 0)
    for n in (0, 1):
        features, boxes = random_inputs(n, 0, lead=lead)
        features.requires_grad_(True)
        out, weights = module(features, boxes, return_weights=True)
        assert out.shape == features.shape
        assert weights.shape == (*lead, 4, n, n)
        if n == 1:
            expected, _expected_weights = authors_relation(
                module, features.reshape(-1, 1, 32)[0], boxes.reshape(-1, 1, 4)[0]
            )
            torch.testing.assert_close(out.reshape(-1, 1, 32)[0], expected)
            assert (weights == 1).all()  # one object attends to itself
        (grad,) = torch.autograd.grad(out.sum(), features)
        assert grad.shape == features.shape
        assert torch.isfinite(grad).all()
    assert module(torch.zeros(0, 32, dtype=torch.float64), torch.zeros(0, 4)).shape == (0, 32)


def test_default_module_runs() -> None:
    module = RelationModule()
    features, boxes = torch.randn(2, 50, 1024), random_inputs(50, 0, torch.float32, (2,))[1]
    out = module(features, boxes)
    assert out.shape == (2, 50, 1024)
    assert torch.isfinite(out).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
def test_cuda_matches_cpu(geometry: str) -> None:
    module = make_module(geometry, 0, chunk_size=4, dtype=torch.float32)
    features, boxes = random_inputs(40, 0, dtype=torch.float32, lead=(2,))
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    expected = module(features, boxes, mask)
    module_cuda = module.to("cuda")
    features_cuda = features.to("cuda").requires_grad_(True)
    out = module_cuda(features_cuda, boxes.to("cuda"), mask.to("cuda"))
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), expected.detach(), rtol=1e-3, atol=1e-3)
    out.sum().backward()
    assert features_cuda.grad is not None
    assert torch.isfinite(features_cuda.grad).all()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.isfinite(module_cuda(features_cuda, boxes.to("cuda"), mask.to("cuda"))).all()
