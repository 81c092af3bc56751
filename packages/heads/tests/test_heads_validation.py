"""Bad input: a ValueError that names the argument."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import KINDS, random_boxes, random_features, small_head

from relnet_heads import FCHead, HeadConfig, RelationConfig, RelationHead, ResidualHead, build_head

G = torch.Generator().manual_seed(0)
FEATURES = random_features(2, 3, generator=G)
BOXES = random_boxes(2, 3, generator=G)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("features", "boxes", "key_mask", "name"),
    [
        (FEATURES.long(), BOXES, None, "features"),
        (FEATURES[0], BOXES, None, "features"),
        (FEATURES[:, :, :-1], BOXES, None, "features"),
        (FEATURES[..., :-1], BOXES, None, "features"),
        (FEATURES.flatten(2)[..., :-1], BOXES, None, "features"),
        ([[1.0]], BOXES, None, "features"),
        (FEATURES, BOXES.long(), None, "boxes"),
        (FEATURES, BOXES[:, :2], None, "boxes"),
        (FEATURES, BOXES[..., :3], None, "boxes"),
        (FEATURES, BOXES[0], None, "boxes"),
        (FEATURES, BOXES, torch.ones(2, 3), "key_mask"),
        (FEATURES, BOXES, torch.ones(2, 2, dtype=torch.bool), "key_mask"),
        (FEATURES, BOXES, torch.ones(3, dtype=torch.bool), "key_mask"),
    ],
)
def test_bad_input_names_argument(
    kind: str, features: object, boxes: object, key_mask: object, name: str
) -> None:
    head = small_head(kind)
    with pytest.raises(ValueError, match=name):
        head(features, boxes, key_mask)  # type: ignore[arg-type]


def test_nan_boxes_rejected_by_relation_head() -> None:
    head = small_head("2fc+rm")
    boxes = BOXES.clone()
    boxes[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="boxes"):
        head(FEATURES, boxes)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: FCHead(0, 7), "in_channels"),
        (lambda: FCHead(8, True), "resolution"),
        (lambda: FCHead(8, 7, hidden_dim=-1), "hidden_dim"),
        (lambda: FCHead(8, 7, num_fc=0), "num_fc"),
        (lambda: ResidualHead(8, 7, 16, blocks=(1, -1)), "blocks"),
        (lambda: RelationHead(8, 7, 16, [RelationConfig(4, 4, 8)], ["x"]), "fc2_relations"),
        (lambda: RelationHead(8, 7, 18, [RelationConfig(4, 4, 8)], []), "feat_dim"),
        (lambda: build_head("2fc", 8, 7), "config"),
        (lambda: HeadConfig(kind="4fc"), "kind"),
        (lambda: HeadConfig(hidden_dim=100), "hidden_dim"),
        (lambda: RelationConfig(key_dim=0), "key_dim"),
        (lambda: RelationConfig(geometry="both"), "geometry"),
    ],
)
def test_bad_construction_names_argument(build: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        build()  # type: ignore[operator]
