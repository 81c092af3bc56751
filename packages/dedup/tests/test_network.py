"""DuplicateRemovalNetwork: shapes, padding, ranks and configuration (paper §4.3, Fig. 3b)."""

from __future__ import annotations

import pytest
import torch

from relnet_dedup import DedupConfig, DuplicateRemovalNetwork, build_dedup_network
from relnet_dedup.network.features import descending_ranks


def random_boxes(n: int, gen: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * 200  # [N, 2]
    wh = 5 + torch.rand(n, 2, generator=gen) * 80  # [N, 2]
    return torch.cat([xy, xy + wh], dim=1)  # [N, 4]


def trained_like(config: DedupConfig, seed: int = 0) -> DuplicateRemovalNetwork:
    """A network whose weights are large enough that every input matters."""
    torch.manual_seed(seed)
    net = build_dedup_network(config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.15)
    return net


def one_random_group(net: DuplicateRemovalNetwork, n: int, feat_dim: int) -> torch.Tensor:
    """The logits ``[1, n, T]`` of one group of ``n`` random boxes (generator seed 0), scores and
    ``feat_dim``-d features (the global generator)."""
    gen = torch.Generator().manual_seed(0)
    return net(  # type: ignore[no-any-return]
        random_boxes(n, gen)[None],
        torch.rand(1, n),
        torch.ones(1, n, dtype=torch.bool),
        torch.randn(1, n, feat_dim),
    )


SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("use_appearance", [True, False])
def test_padded_batch_equals_per_group_calls(seed: int, use_appearance: bool) -> None:
    config = DedupConfig(feat_dim=12, use_appearance=use_appearance, **SMALL)
    net = trained_like(config, seed)
    gen = torch.Generator().manual_seed(seed)
    sizes = [5, 1, 9, 3]
    width = max(sizes)
    boxes = torch.zeros(len(sizes), width, 4)
    scores = torch.zeros(len(sizes), width)
    feats = torch.zeros(len(sizes), width, 12)
    valid = torch.zeros(len(sizes), width, dtype=torch.bool)
    singles = []
    for g, n in enumerate(sizes):
        b, s, f = (
            random_boxes(n, gen),
            torch.rand(n, generator=gen),
            torch.randn(n, 12, generator=gen),
        )
        boxes[g, :n], scores[g, :n], feats[g, :n], valid[g, :n] = b, s, f, True
        # padding holds garbage that must not matter
        boxes[g, n:] = random_boxes(width - n, gen)
        scores[g, n:] = 2.0
        feats[g, n:] = 100.0
        ones = torch.ones(1, n, dtype=torch.bool)
        single_f = f[None] if use_appearance else None
        singles.append(net(b[None], s[None], ones, single_f)[0])
    out = net(boxes, scores, valid, feats if use_appearance else None)  # [G, N, T]
    assert out.shape == (len(sizes), width, 5)
    for g, n in enumerate(sizes):
        torch.testing.assert_close(out[g, :n], singles[g], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_descending_ranks_match_a_stable_sort(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 5, (3, 7), generator=gen).float() / 4  # many ties
    valid = torch.rand(3, 7, generator=gen) > 0.3
    ranks = descending_ranks(scores, valid)
    for g in range(3):
        idx = [i for i in range(7) if valid[g, i]]
        order = sorted(idx, key=lambda i: (-float(scores[g, i]), i))
        for r, i in enumerate(order):
            assert int(ranks[g, i]) == r


def test_initial_output_is_the_logit_bias_and_paper_size() -> None:
    net = build_dedup_network(DedupConfig(logit_bias=-3.0, init_std=0.01))  # the authors
    assert net.thresholds == (0.5, 0.6, 0.7, 0.8, 0.9)
    torch.testing.assert_close(net.classifier.bias, torch.full((5,), -3.0))
    params = sum(p.numel() for p in net.parameters())
    assert 0.3e6 < params < 0.5e6  # §5.2: "0.33 million" without the 1024 -> 128 projection
    out = one_random_group(net, 6, 1024)
    assert (out - -3.0).abs().max() < 0.2  # tiny weights: every logit near the bias


@pytest.mark.parametrize("rank_feature", ["rank", "score", "none"])
@pytest.mark.parametrize("geometry", ["pairwise", "unary", "none"])
def test_table3_variants_run(rank_feature: str, geometry: str) -> None:
    config = DedupConfig(feat_dim=8, rank_feature=rank_feature, geometry=geometry, **SMALL)  # type: ignore[arg-type]
    net = trained_like(config)
    out = one_random_group(net, 4, 8)
    assert out.shape == (1, 4, 5)
    assert torch.isfinite(out).all()
    assert (net.rank is None) == (rank_feature == "none")


def test_rank_changes_the_output_only_through_the_order() -> None:
    net = trained_like(DedupConfig(use_appearance=False, **SMALL))
    gen = torch.Generator().manual_seed(3)
    boxes = random_boxes(5, gen)[None]
    valid = torch.ones(1, 5, dtype=torch.bool)
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.1, 0.3]])
    same_order = scores**2  # different values, same ranks
    torch.testing.assert_close(net(boxes, scores, valid), net(boxes, same_order, valid))
    assert not torch.allclose(net(boxes, scores, valid), net(boxes, scores.flip(-1), valid))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank_feature": "ranks"}, "rank_feature"),
        ({"geometry": "triplet"}, "geometry"),
        ({"use_appearance": False, "rank_feature": "none"}, "no input feature"),
        ({"thresholds": ()}, "thresholds"),
        ({"thresholds": (0.5, 1.5)}, "thresholds"),
        ({"thresholds": (0.5, 0.5)}, "distinct"),
        ({"feat_dim": 0}, "feat_dim"),
        ({"logit_bias": float("nan")}, "logit_bias"),
        # issue 10's unclear errors: these named feat_dim, or failed in nn.Linear or iteration
        ({"embed_dim": 0}, r"embed_dim must be an int >= 1, got 0"),
        ({"embed_dim": -2}, r"embed_dim must be an int >= 1, got -2"),
        ({"embed_dim": 130}, r"embed_dim \(130\) must be divisible by num_relations \(16\)"),
        ({"embed_dim": 31, "num_relations": 1}, r"embed_dim must be even"),
        ({"embed_dim": 36, "num_relations": 4, "geometry": "unary"}, r"embed_dim .* by 8"),
        ({"embed_dim": 64.0}, r"embed_dim must be an int, got 64.0"),
        ({"geo_dim": 12}, r"geo_dim must be divisible by 8 with geometry='pairwise', got 12"),
        ({"key_dim": True}, r"key_dim must be an int, got True"),
        ({"num_relations": 0}, r"num_relations must be an int >= 1, got 0"),
        ({"thresholds": 0.5}, r"thresholds must be a sequence of IoU thresholds .* got 0.5"),
        ({"thresholds": "0.5"}, r"thresholds must be a sequence"),
        ({"thresholds": (0.5, "0.6")}, r"thresholds\[1\] must be a number, got '0.6'"),
        ({"init_std": 0.0}, r"init_std must be a number in \(0.0, inf\), got 0.0"),
        ({"logit_bias": float("inf")}, r"logit_bias .* got inf"),
        ({"use_appearance": 1}, r"use_appearance must be True or False, got 1"),
        ({"geometry": None}, r"geometry must be one of \('pairwise', 'unary', 'none'\), got None"),
    ],
)
def test_bad_config_raises(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DedupConfig(**kwargs)  # type: ignore[arg-type]


def test_config_accepts_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    config = DedupConfig(
        feat_dim=np.int64(6),
        embed_dim=np.int32(32),
        thresholds=np.array([0.5, 0.7]),
        **{
            "num_relations": 4,
            "key_dim": 8,
            "geo_dim": 16,
        },
    )
    assert type(config.feat_dim) is int
    assert config.thresholds == (0.5, 0.7)
    assert config.to_dict()["embed_dim"] == 32


def test_build_refuses_something_else() -> None:
    with pytest.raises(ValueError, match=r"config must be a DedupConfig or None, got dict"):
        build_dedup_network({"feat_dim": 6})  # type: ignore[arg-type]


def test_config_round_trips_through_plain_dict() -> None:
    config = DedupConfig(feat_dim=7, geometry="unary", thresholds=(0.5, 0.75))
    data = config.to_dict()
    assert data["thresholds"] == [0.5, 0.75]
    assert DedupConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown"):
        DedupConfig.from_dict({**data, "dropout": 0.1})


def test_features_required_iff_appearance() -> None:
    boxes = torch.tensor([[[0.0, 0.0, 5.0, 5.0]]])
    scores, valid = torch.tensor([[0.5]]), torch.tensor([[True]])
    with pytest.raises(ValueError, match="features are required"):
        build_dedup_network(DedupConfig(feat_dim=4, **SMALL))(boxes, scores, valid)
    with pytest.raises(ValueError, match="without appearance"):
        build_dedup_network(DedupConfig(use_appearance=False, **SMALL))(
            boxes, scores, valid, torch.zeros(1, 1, 4)
        )


@pytest.mark.parametrize("head", ["relu", "mlp"])
def test_the_head_after_the_relation_module(head: str) -> None:
    """``relu``: ReLU then W_s (the authors' code); ``mlp``: ReLU, fc, ReLU, W_s."""
    torch.manual_seed(0)
    net = DuplicateRemovalNetwork(
        DedupConfig(feat_dim=4, embed_dim=16, num_relations=4, key_dim=4, geo_dim=8, head=head)
    )
    x = torch.randn(2, 3, 16)
    expected = torch.relu(x)
    if head == "mlp":
        assert net.hidden is not None
        expected = torch.relu(net.hidden(expected))
    torch.testing.assert_close(net.logits(x), net.classifier(expected))
    with pytest.raises(ValueError, match="head"):
        DedupConfig(head="deep")  # type: ignore[arg-type]


def test_higher_ranked_overlap_is_the_largest_iou_with_a_box_ranked_above() -> None:
    from relnet_dedup.network.features import higher_ranked_overlap, ranked_before
    from relnet_geometry import box_iou

    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 7, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(2, 7, 2, generator=gen) * 30], dim=-1)  # [2, 7, 4]
    scores = (torch.rand(2, 7, generator=gen) * 4).round() / 4  # ties: the lower index first
    valid = torch.ones(2, 7, dtype=torch.bool)
    valid[1, 5:] = False
    out = higher_ranked_overlap(boxes, ranked_before(scores, valid))
    for g in range(2):
        iou = box_iou(boxes[g], boxes[g])
        for i in range(7):
            above = [j for j in range(7) if valid[g, j] and (scores[g, j] > scores[g, i] or (
                scores[g, j] == scores[g, i] and j < i))]  # fmt: skip
            expected = max((float(iou[i, j]) for j in above), default=0.0)
            assert float(out[g, i]) == pytest.approx(expected, abs=1e-6)
