"""The relation head's two localisation ablations (not in the paper): the box regressor's own
pre-relation feature, and relation modules that start as the identity."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from heads_helpers import (
    HIDDEN,
    IN_CHANNELS,
    RESOLUTION,
    random_boxes,
    random_features,
    small_config,
)
from torch.nn import functional as F

from relnet_heads import HeadConfig, RelationConfig, build_head


def test_the_pre_relation_feature_is_fc2_before_its_relation_modules() -> None:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    paper = build_head(small_config("2fc+rm"), IN_CHANNELS, RESOLUTION)
    split = build_head(
        dataclasses.replace(small_config("2fc+rm"), box_feature="pre_relation"),
        IN_CHANNELS,
        RESOLUTION,
    )
    split.load_state_dict(paper.state_dict())  # the same parameters: only the output differs
    features, boxes = random_features(2, 6, generator=g), random_boxes(2, 6, generator=g)
    out = split(features, boxes)  # [2, 6, 2 * HIDDEN]
    assert (split.out_dim, split.box_dim, paper.box_dim) == (2 * HIDDEN, HIDDEN, 0)
    assert out.shape == (2, 6, 2 * HIDDEN)
    torch.testing.assert_close(out[..., :HIDDEN], paper(features, boxes))
    # the slow reference: fc6 -> its relation module -> ReLU -> fc7 -> ReLU, no fc7 relation
    x = features.flatten(2)
    x = F.relu(paper.fc6_relations[0](paper.fc6(x), boxes))
    torch.testing.assert_close(out[..., HIDDEN:], F.relu(paper.fc7(x)))


def test_a_zero_value_init_starts_the_head_as_2fc() -> None:
    g = torch.Generator().manual_seed(1)
    zero = RelationConfig(num_relations=4, key_dim=8, geo_dim=16, value_init="zero")
    config = HeadConfig(
        kind="2fc+rm", hidden_dim=HIDDEN, fc1_relations=(zero,), fc2_relations=(zero,)
    )
    head = build_head(config, IN_CHANNELS, RESOLUTION)
    plain = build_head(HeadConfig(kind="2fc", hidden_dim=HIDDEN), IN_CHANNELS, RESOLUTION)
    plain.fcs[0].load_state_dict(head.fc6.state_dict())
    plain.fcs[1].load_state_dict(head.fc7.state_dict())
    features, boxes = random_features(1, 5, generator=g), random_boxes(1, 5, generator=g)
    out = head(features, boxes)
    torch.testing.assert_close(out, plain(features, boxes))
    out.square().sum().backward()  # W_V still learns: the relation features can grow
    assert head.fc6_relations[0].value.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: HeadConfig(kind="2fc", box_feature="pre_relation"), "box_feature.*needs kind"),
        (lambda: HeadConfig(box_feature="before"), "box_feature"),
        (lambda: RelationConfig(value_init="ones"), "value_init.*'ones'"),
    ],
)
def test_bad_options_name_their_value(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]
