"""``attend`` and ``appearance_logits``: the module from precomputed parts equals ``forward``."""

from __future__ import annotations

import math

import pytest
import torch
from relation_reference import make_module, random_inputs


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("geometry", ["pairwise", "none"])
def test_attend_equals_forward(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)
    features, boxes = random_inputs(11, seed, lead=(3,))
    mask = torch.rand(3, 11, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[1] = False  # an image without keys returns its features unchanged
    with torch.no_grad():
        expected = module(features, boxes, mask)
        logits = module.appearance_logits(module.query(features), module.key(features))
        assert logits.shape == (3, 4, 11, 11)
        out = module.attend(features, module.value(features), logits, boxes, mask)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out[1], features[1])


@pytest.mark.parametrize("geometry", ["pairwise", "none"])
def test_attend_broadcasts_shared_features(geometry: str) -> None:
    """One set of features for every image (batch dimension 1), boxes per image."""
    module = make_module(geometry, 0)
    features, boxes = random_inputs(7, 0, lead=(2,))
    shared = features[:1]  # [1, N, df]
    with torch.no_grad():
        expected = module(shared.expand(2, -1, -1), boxes)
        logits = module.appearance_logits(module.query(shared), module.key(shared))
        out = module.attend(shared, module.value(shared), logits, boxes)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_attend_gradients_match_forward() -> None:
    module = make_module("pairwise", 1)
    features, boxes = random_inputs(6, 1, lead=(2,))
    features.requires_grad_(True)
    expected = torch.autograd.grad(module(features, boxes).square().sum(), features)[0]
    logits = module.appearance_logits(module.query(features), module.key(features))
    out = module.attend(features, module.value(features), logits, boxes)
    torch.testing.assert_close(torch.autograd.grad(out.square().sum(), features)[0], expected)


def test_attend_takes_any_row_shift_of_the_exps_and_falls_back_on_underflow() -> None:
    module = make_module("pairwise", 2)
    features, boxes = random_inputs(9, 2, lead=(2,))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 6:] = False
    with torch.no_grad():
        expected = module(features, boxes, mask)
        logits = module.appearance_logits(module.query(features), module.key(features))
        values = module.value(features)
        shifted = (logits - 3.0).exp()  # exp(logits - c) for another c: the same result
        out = module.attend(features, values, logits, boxes, mask, exp_logits=shifted)
        torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
        # exps that underflowed: every sum is tiny, so both images go the log-domain way
        tiny = (logits - 800.0).exp()
        out = module.attend(features, values, logits, boxes, mask, exp_logits=tiny)
    assert tiny.max() < torch.finfo(torch.float64).tiny ** (2 / 3)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_shifted_exp_floors_the_exponent_only_where_it_cannot_matter() -> None:
    """exp below EXP_FLOOR (under float32's smallest normal) is taken at the floor: such a term
    is < 1e-37 of its row's largest, exp(0) = 1, and exp's slow path there is 30x slower."""
    from relnet_attention import EXP_FLOOR, shifted_exp

    logits = torch.tensor([[0.0, -1.0, -50.0, -86.0, -87.5, -500.0]])
    out = shifted_exp(logits + 3.0)  # the row's maximum is subtracted first
    torch.testing.assert_close(out[0, :4], torch.exp(logits[0, :4]))
    assert torch.equal(out[0, 4:], torch.full((2,), math.exp(EXP_FLOOR), dtype=torch.float32))
    assert float(out.sum()) == pytest.approx(float(torch.exp(logits).sum()), rel=1e-6)
