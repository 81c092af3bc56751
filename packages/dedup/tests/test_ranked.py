"""learned_batched_nms's rank-ordered path (relnet_dedup.network.ranked): equal to the network's
forward, the rank table cached safely, and float32 no further from float64 than the direct form."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from relnet_dedup import (
    DedupConfig,
    DuplicateRemovalNetwork,
    build_dedup_network,
    learned_batched_nms,
)
from relnet_dedup.grouping import padded_groups, select_candidates
from relnet_dedup.network import ranked as ranked_module
from relnet_dedup.network.features import descending_ranks
from relnet_geometry import geometry_embedding, rank_embedding

SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}


def make_net(
    appearance: bool,
    geometry: str = "pairwise",
    seed: int = 0,
    head: str = "linear",
    overlap: bool = False,
) -> DuplicateRemovalNetwork:
    torch.manual_seed(seed)
    config = DedupConfig(
        feat_dim=6,
        use_appearance=appearance,
        geometry=geometry,  # type: ignore[arg-type]
        head=head,  # type: ignore[arg-type]
        overlap_feature=overlap,
        **SMALL,  # type: ignore[arg-type]
    )
    net = build_dedup_network(config)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    return net.eval()


def detections(n: int, groups: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Boxes [N, 4], scores [N] with exact ties, group ids [N], features [N, 6]."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 300
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=gen) * 80], dim=1)
    scores = (torch.rand(n, generator=gen) * 20).round() / 20 + 0.02  # many exact ties
    idxs = torch.randint(0, groups, (n,), generator=gen)
    return boxes, scores, idxs, torch.randn(n, 6, generator=gen)


def scores_by_index(keep: Tensor, final: Tensor, n: int) -> Tensor:
    out = torch.full((n,), -1.0, dtype=final.dtype)
    out[keep] = final
    return out  # [N], -1 where not kept


def forward_path(
    net: DuplicateRemovalNetwork,
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    features: Tensor | None = None,
    **kwargs: object,
) -> Tensor:
    """learned_batched_nms through the network's forward (train mode: no rank table)."""
    net.train()
    try:
        keep, final = learned_batched_nms(boxes, scores, idxs, net, features, **kwargs)  # type: ignore[arg-type]
    finally:
        net.eval()
    return scores_by_index(keep, final, len(boxes))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("geometry", ["pairwise", "none"])
@pytest.mark.parametrize("appearance", [False, True])
@pytest.mark.parametrize(("head", "overlap"), [("linear", False), ("relu", True), ("mlp", False)])
def test_ranked_path_equals_forward(
    seed: int, geometry: str, appearance: bool, head: str, overlap: bool
) -> None:
    net = make_net(appearance, geometry, seed, head, overlap)
    boxes, scores, idxs, feats = detections(300, 6, seed)
    f = feats if appearance else None
    for first_n, eta in [(100, None), (17, 0.7)]:  # some groups cut at first_n
        expected = forward_path(net, boxes, scores, idxs, f, first_n=first_n, eta=eta)
        keep, final = learned_batched_nms(boxes, scores, idxs, net, f, first_n=first_n, eta=eta)
        torch.testing.assert_close(scores_by_index(keep, final, 300), expected, atol=1e-6, rtol=0)


def test_rows_are_in_rank_order() -> None:
    """The path's premise: in every padded group, slot = descending_ranks for valid slots."""
    _, scores, idxs, _ = detections(400, 5, 3)
    rows = select_candidates(scores, idxs, 0.01, 60)
    for index, valid in padded_groups(idxs[rows], torch.arange(len(rows))):
        ranks = descending_ranks(scores[rows][index], valid)  # [G, M]
        slots = torch.arange(index.shape[1]).expand_as(ranks)
        assert torch.equal(ranks[valid], slots[valid])


def test_table_is_cached_and_invalidated_by_any_weight_change() -> None:
    net = make_net(False)
    boxes, scores, idxs, _ = detections(200, 4, 0)
    first = learned_batched_nms(boxes, scores, idxs, net)
    table = net.__dict__[ranked_module.CACHE]
    second = learned_batched_nms(boxes, scores, idxs, net)
    assert net.__dict__[ranked_module.CACHE] is table  # reused
    assert all(t.grad_fn is None and not t.requires_grad for t in (table.logits, table.values))
    torch.testing.assert_close(second, first, rtol=0, atol=0)

    def check_fresh() -> None:
        expected = forward_path(net, boxes, scores, idxs)
        keep, final = learned_batched_nms(boxes, scores, idxs, net)
        torch.testing.assert_close(scores_by_index(keep, final, 200), expected, atol=1e-6, rtol=0)

    with torch.no_grad():
        net.relation.key.weight.data.mul_(1.5)  # .data: no version counter sees this
    check_fresh()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    loss = net(boxes[None, :20], scores[None, :20], torch.ones(1, 20, dtype=torch.bool)).sum()
    loss.backward()
    optimizer.step()
    net.eval()
    check_fresh()
    net.load_state_dict(make_net(False, seed=5).state_dict())
    check_fresh()
    with torch.no_grad():
        net.rank.bias.add_(0.1)  # type: ignore[union-attr]
    check_fresh()
    net.double()
    expected = forward_path(net, boxes.double(), scores.double(), idxs)
    keep, final = learned_batched_nms(boxes.double(), scores.double(), idxs, net)
    assert final.dtype == torch.float64
    torch.testing.assert_close(scores_by_index(keep, final, 200), expected, atol=1e-12, rtol=0)


def test_training_and_autograd_never_use_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    net = make_net(False)
    boxes, scores, idxs, _ = detections(100, 3, 1)

    def refuse(*args: object) -> None:
        raise AssertionError("rank table used")

    monkeypatch.setattr(ranked_module, "rank_table", refuse)
    net.train()
    learned_batched_nms(boxes, scores, idxs, net)  # train mode: the network's forward
    net.eval()
    with torch.enable_grad():
        assert not ranked_module.uses_rank_table(net)
    with pytest.raises(AssertionError, match="rank table used"):
        learned_batched_nms(boxes, scores, idxs, net)  # eval mode does use it


def test_underflowing_softmax_falls_back_to_the_log_domain() -> None:
    """Huge query/key weights make the exps of the product-form softmax underflow."""
    net = make_net(True, seed=4)
    with torch.no_grad():
        net.relation.query.weight.mul_(300.0)
        net.relation.key.weight.mul_(300.0)
    boxes, scores, idxs, feats = detections(200, 3, 4)
    expected = forward_path(net, boxes, scores, idxs, feats)
    keep, final = learned_batched_nms(boxes, scores, idxs, net, feats)
    assert torch.isfinite(final).all()
    torch.testing.assert_close(scores_by_index(keep, final, 200), expected, atol=1e-5, rtol=0)


def direct_logits(net: DuplicateRemovalNetwork, boxes: Tensor, scores: Tensor) -> Tensor:
    """The network on one group in the authors' direct form: the ``[N, N, d_g]`` geometry
    embedding, ``fc``, ReLU, ``log(max(., 1e-6))``, the softmax, the raw features aggregated.
    Logits Tensor[N, T]."""
    relation, d = net.relation, net.config.embed_dim
    nr = relation.num_relations
    ranks = descending_ranks(scores[None], torch.ones(1, len(scores), dtype=torch.bool))[0]
    x = net.rank(rank_embedding(ranks.to(boxes.dtype), d))  # type: ignore[misc]  # [N, d]
    q = relation.query(x).view(len(x), nr, -1).transpose(0, 1)  # [Nr, N, dk]
    k = relation.key(x).view(len(x), nr, -1).transpose(0, 1)  # [Nr, N, dk]
    aff = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5  # [Nr, N, N]
    assert relation.geo_proj is not None
    emb = geometry_embedding(boxes, relation.geo_dim)  # [N, N, dg]
    w_g = F.relu(relation.geo_proj(emb)).permute(2, 0, 1)  # [Nr, N, N]
    soft = (w_g.clamp(min=1e-6).log() + aff).softmax(dim=-1)  # [Nr, N, N]
    agg = soft @ x  # [Nr, N, d]: the raw features, per relation
    w_v = relation.value.weight.view(nr, d // nr, d)  # [Nr, d/Nr, d]
    rel = (agg @ w_v.transpose(1, 2)).transpose(0, 1).reshape(len(x), d) + relation.value.bias
    return net.classifier(x + rel)  # [N, T]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_float32_error_is_the_direct_forms(seed: int) -> None:
    """The paper's sizes, float32: the scores and the logits are no further from a float64
    evaluation than the direct float32 form is, plus 1e-5."""
    torch.manual_seed(seed)
    net = build_dedup_network(DedupConfig(use_appearance=False)).eval()
    gen = torch.Generator().manual_seed(seed)
    centre = torch.rand(3, 2, generator=gen) * 500  # three objects, 30 detections each
    size = 30 + torch.rand(3, 2, generator=gen) * 150
    base = torch.cat([centre, centre + size], dim=1).repeat_interleave(30, 0)  # [90, 4]
    boxes = (
        base + torch.randn(90, 4, generator=gen) * size.repeat(1, 2).repeat_interleave(30, 0) * 0.05
    )
    scores = torch.rand(90, generator=gen) * 0.9 + 0.05
    idxs = torch.zeros(90, dtype=torch.long)
    keep, final = learned_batched_nms(boxes, scores, idxs, net)
    net64 = copy.deepcopy(net).double()
    keep64, final64 = learned_batched_nms(boxes.double(), scores.double(), idxs, net64)
    with torch.no_grad():
        truth = direct_logits(net64, boxes.double(), scores.double())  # [90, T]
        direct = direct_logits(net, boxes, scores)
    truth_scores = scores.double() * truth.sigmoid().mean(-1)  # [90]
    direct_scores = scores * direct.sigmoid().mean(-1)
    torch.testing.assert_close(
        scores_by_index(keep64, final64, 90), truth_scores, atol=1e-10, rtol=0
    )
    ours = scores_by_index(keep, final, 90)
    score_error = (ours.double() - truth_scores).abs().max().item()
    direct_score_error = (direct_scores.double() - truth_scores).abs().max().item()
    assert score_error <= direct_score_error + 1e-5, (score_error, direct_score_error)
    # The logits themselves, through the same path for one rank-ordered group.
    order = torch.sort(scores, descending=True, stable=True).indices
    ((index, _valid, logits),) = ranked_module.ranked_group_logits(net, boxes[order], idxs, None)
    ours_logits = torch.empty_like(logits[0])
    ours_logits[order[index[0]]] = logits[0]
    logit_error = (ours_logits.double() - truth).abs().max().item()
    direct_error = (direct.double() - truth).abs().max().item()
    assert logit_error <= direct_error + 1e-5, (logit_error, direct_error)
    assert (truth - truth.mean(0)).abs().max() > 1e-2  # the relation module matters


def test_groups_larger_than_the_table_go_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranked_module, "TABLE_MAX", 8)
    net = make_net(False, seed=6)
    boxes, scores, idxs, _ = detections(120, 3, 6)  # groups of about 40
    expected = forward_path(net, boxes, scores, idxs)
    keep, final = learned_batched_nms(boxes, scores, idxs, net)
    torch.testing.assert_close(scores_by_index(keep, final, 120), expected, atol=1e-6, rtol=0)
    assert ranked_module.CACHE not in net.__dict__


def test_autocast_keeps_the_geometry_in_float32() -> None:
    net = make_net(True, seed=7)
    boxes, scores, idxs, feats = detections(150, 3, 7)
    expected = forward_path(net, boxes, scores, idxs, feats)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        keep, final = learned_batched_nms(boxes, scores, idxs, net, feats)
    assert torch.isfinite(final).all()
    torch.testing.assert_close(
        scores_by_index(keep, final.float(), 150), expected, atol=0.05, rtol=0
    )
