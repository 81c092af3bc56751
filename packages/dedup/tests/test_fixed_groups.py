"""fixed_groups_learned_nms: the detections, order and scores of learned_batched_nms, for every
network variant; traced once, it stays equal for other numbers of detections, zero included."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn

from relnet_dedup import (
    DedupConfig,
    DuplicateRemovalNetwork,
    build_dedup_network,
    fixed_groups_learned_nms,
)
from relnet_dedup import learned_batched_nms as eager

SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}
GROUPS = 4


def make_net(seed: int = 0, **config: object) -> DuplicateRemovalNetwork:
    torch.manual_seed(seed)
    net = build_dedup_network(DedupConfig(feat_dim=6, **{**SMALL, **config}))  # type: ignore[arg-type]
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.2)
    return net.eval()


def make_detections(n: int, seed: int, groups: int = GROUPS) -> tuple[Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 100  # [N, 2]
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=gen) * 40], dim=1)  # [N, 4]
    scores = torch.rand(n, generator=gen) ** 2  # [N]: many below 0.01
    idxs = torch.randint(0, groups, (n,), generator=gen)  # [N]
    feats = torch.randn(n, 6, generator=gen)  # [N, 6]
    return boxes, scores, idxs, feats


def _features(net: DuplicateRemovalNetwork, feats: Tensor) -> Tensor | None:
    return feats if net.config.use_appearance else None


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"use_appearance": False},
        {"rank_feature": "score"},
        {"rank_feature": "rank+score"},
        {"geometry": "unary"},
        {"geometry": "none"},
        {"overlap_feature": True},
    ],
)
@pytest.mark.parametrize(("score_threshold", "first_n"), [(0.01, 100), (0.2, 3), (-1.0, 1)])
@pytest.mark.parametrize("eta", [None, 0.7])
def test_equals_learned_batched_nms(
    config: dict[str, object], score_threshold: float, first_n: int, eta: float | None
) -> None:
    net = make_net(**config)
    boxes, scores, idxs, feats = make_detections(150, seed=first_n)
    args = (boxes, scores, idxs, net, _features(net, feats))
    settings = {"eta": eta, "score_threshold": score_threshold, "first_n": first_n}
    keep, final = fixed_groups_learned_nms(*args, num_groups=GROUPS, **settings)  # type: ignore[arg-type]
    expected_keep, expected_final = eager(*args, **settings)  # type: ignore[arg-type]
    assert torch.equal(keep, expected_keep)
    torch.testing.assert_close(final, expected_final, rtol=0, atol=1e-6)


def test_other_groups_are_dropped_and_no_detection_gives_none() -> None:
    net = make_net()
    boxes, scores, idxs, feats = make_detections(80, seed=3, groups=GROUPS + 2)
    keep, final = fixed_groups_learned_nms(boxes, scores, idxs, net, feats, num_groups=GROUPS)
    inside = torch.nonzero(idxs < GROUPS).flatten()  # [M]
    expected_keep, expected_final = eager(
        boxes[inside], scores[inside], idxs[inside], net, feats[inside]
    )
    assert torch.equal(keep, inside[expected_keep])
    torch.testing.assert_close(final, expected_final, rtol=0, atol=1e-6)
    empty = fixed_groups_learned_nms(
        boxes[:0], scores[:0], idxs[:0], net, feats[:0], num_groups=GROUPS
    )
    assert [t.shape for t in empty] == [(0,), (0,)]


class _Remover(nn.Module):
    def __init__(self, net: DuplicateRemovalNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, boxes: Tensor, scores: Tensor, idxs: Tensor, feats: Tensor
    ) -> tuple[Tensor, Tensor]:
        return fixed_groups_learned_nms(
            boxes, scores, idxs, self.net, feats, num_groups=GROUPS, first_n=20
        )


def test_a_trace_holds_for_other_numbers_of_detections() -> None:
    remover = _Remover(make_net())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        traced = torch.jit.trace(remover, make_detections(40, seed=0), check_trace=False)  # type: ignore[no-untyped-call]
    for n in (0, 1, 7, 300):  # 300: groups above first_n
        boxes, scores, idxs, feats = make_detections(n, seed=n)
        keep, final = traced(boxes, scores, idxs, feats)
        expected_keep, expected_final = eager(boxes, scores, idxs, remover.net, feats, first_n=20)
        assert torch.equal(keep, expected_keep)
        torch.testing.assert_close(final, expected_final, rtol=0, atol=1e-6)


def test_bad_num_groups_is_named() -> None:
    boxes, scores, idxs, feats = make_detections(5, seed=0)
    with pytest.raises(ValueError, match="num_groups"):
        fixed_groups_learned_nms(boxes, scores, idxs, make_net(), feats, num_groups=0)
