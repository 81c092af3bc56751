"""Parameter counts of every head kind against their closed forms (paper Eq. 7, Table 2)."""

from __future__ import annotations

import pytest

from relnet_heads import HeadConfig, RelationConfig, build_head, count_parameters


def linear(a: int, b: int) -> int:
    return a * b + b


def relation_module(d: int, config: RelationConfig) -> int:
    """Eq. (7) plus biases: W_Q, W_K (d -> Nr dk), W_V (d -> d), W_G (dg -> Nr) if pairwise."""
    nr, dk = config.num_relations, config.key_dim
    geometry = linear(config.geo_dim, nr) if config.geometry == "pairwise" else 0
    return 2 * linear(d, nr * dk) + linear(d, d) + geometry


def expected(config: HeadConfig, in_features: int) -> int:
    d = config.hidden_dim
    two_fc = linear(in_features, d) + linear(d, d)
    if config.kind == "2fc":
        return two_fc
    if config.kind == "3fc":
        return two_fc + linear(d, d)
    if config.kind == "2fc+res":
        return two_fc + sum(config.res_blocks) * 3 * linear(d, d)
    modules = (*config.fc1_relations, *config.fc2_relations)
    return two_fc + sum(relation_module(d, m) for m in modules)


CONFIGS = [
    HeadConfig(kind="2fc", hidden_dim=1024),
    HeadConfig(kind="2fc", hidden_dim=1432),
    HeadConfig(kind="3fc", hidden_dim=1024),
    HeadConfig(kind="2fc+res", hidden_dim=1024, res_blocks=(1, 1)),
    HeadConfig(kind="2fc+res", hidden_dim=256, res_blocks=(2, 0)),
    HeadConfig(kind="2fc+rm", hidden_dim=1024),
    HeadConfig(
        kind="2fc+rm",
        hidden_dim=256,
        fc1_relations=(RelationConfig(8, 16, 32, "unary"), RelationConfig(16, 16, 64)),
        fc2_relations=(RelationConfig(4, 8, 8, "none"),),
    ),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}-{c.hidden_dim}")
def test_count_matches_formula(config: HeadConfig) -> None:
    head = build_head(config, in_channels=256, resolution=7)
    assert count_parameters(head) == expected(config, 256 * 7 * 7)


def test_paper_relation_module_size() -> None:
    """Eq. (7) at the paper's setting: about 3.15 M per module (the paper's '3 M')."""
    rm = relation_module(1024, RelationConfig())
    assert 3.1e6 < rm < 3.2e6
    two_fc = count_parameters(build_head(HeadConfig(kind="2fc"), 256, 7))
    with_rm = count_parameters(build_head(HeadConfig(kind="2fc+rm"), 256, 7))
    assert with_rm - two_fc == 2 * rm


def test_frozen_parameters_not_counted() -> None:
    head = build_head(HeadConfig(kind="2fc", hidden_dim=16), 2, 2)
    head.fcs[0].weight.requires_grad_(False)
    assert count_parameters(head) == linear(8, 16) + linear(16, 16) - 8 * 16
