"""Equivariance and invariance (DESIGN.md) and the parameter count of Eq. (7)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from relation_reference import make_module, random_inputs

from relnet_attention import RelationModule

SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
def test_permutation_equivariance(seed: int, geometry: str) -> None:
    module = make_module(geometry, seed, chunk_size=4)
    features, boxes = random_inputs(10, seed)
    mask = torch.arange(10) % 3 != 0
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out, weights = module(features, boxes, mask, return_weights=True)
        out_p, weights_p = module(features[perm], boxes[perm], mask[perm], return_weights=True)
    torch.testing.assert_close(out_p, out[perm], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(weights_p, weights[:, perm][:, :, perm], rtol=1e-10, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 100),
    geometry=st.sampled_from(["pairwise", "none"]),
    shift=st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)),
    scale=st.floats(0.1, 10.0),
)
def test_translation_and_scale_invariance(
    seed: int, geometry: str, shift: tuple[float, float], scale: float
) -> None:
    module = make_module(geometry, seed % 3, chunk_size=4)
    features, boxes = random_inputs(9, seed)
    moved = boxes * scale + torch.tensor([*shift, *shift], dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            module(features, moved), module(features, boxes), rtol=1e-6, atol=1e-6
        )


def test_unary_is_not_translation_invariant() -> None:
    """A sanity check that the invariance test can fail: unary geometry sees absolute boxes."""
    module = make_module("unary", 0)
    features, boxes = random_inputs(9, 0)
    with torch.no_grad():
        diff = module(features, boxes + 300.0) - module(features, boxes)
    assert diff.abs().max() > 1e-3


def eq7(df: int, nr: int, dk: int, dg: int) -> int:
    """Eq. (7): ``N_r (2 d_f d_k + d_g) + d_f^2`` weights."""
    return nr * (2 * df * dk + dg) + df * df


@pytest.mark.parametrize(
    ("df", "nr", "dk", "dg"), [(1024, 16, 64, 64), (256, 4, 32, 32), (64, 8, 16, 8)]
)
def test_parameter_count_eq7(df: int, nr: int, dk: int, dg: int) -> None:
    module = RelationModule(feat_dim=df, num_relations=nr, key_dim=dk, geo_dim=dg)
    weights = sum(p.numel() for name, p in module.named_parameters() if name.endswith("weight"))
    biases = sum(p.numel() for name, p in module.named_parameters() if name.endswith("bias"))
    assert weights == eq7(df, nr, dk, dg)
    assert biases == 2 * nr * dk + df + nr  # query, key, value, W_G
    assert all(p.requires_grad for p in module.parameters())


def test_default_size_is_about_3_15m() -> None:
    module = RelationModule()
    total = sum(p.numel() for p in module.parameters())
    assert total == eq7(1024, 16, 64, 64) + 3 * 1024 + 16 == 3_149_840
    none = RelationModule(geometry="none")
    assert sum(p.numel() for p in none.parameters()) == total - 16 * 64 - 16  # no W_G
