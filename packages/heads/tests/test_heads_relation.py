"""The 2fc+RM head: batched equals a loop over images; padding and masked keys change no other
object's output; every other head ignores boxes and key mask."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import IN_CHANNELS, KINDS, RESOLUTION, random_boxes, random_features, small_head


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("geometry", ["pairwise", "unary", "none"])
def test_batched_equals_loop_over_images(seed: int, geometry: str) -> None:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = small_head("2fc+rm", geometry, r=(2, 1))
    counts = [5, 9, 1]
    images = [(random_features(1, n, generator=g), random_boxes(1, n, generator=g)) for n in counts]
    n_max = max(counts)
    features = torch.zeros(3, n_max, IN_CHANNELS, RESOLUTION, RESOLUTION)  # [B, N, C, r, r]
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(3, n_max, 1)  # [B, N, 4]
    valid = torch.zeros(3, n_max, dtype=torch.bool)  # [B, N]
    for i, (f, b) in enumerate(images):
        features[i, : counts[i]], boxes[i, : counts[i]], valid[i, : counts[i]] = f[0], b[0], True
    batched, weights = head(features, boxes, valid, return_weights=True)
    for i, (f, b) in enumerate(images):
        single, single_weights = head(f, b, return_weights=True)
        torch.testing.assert_close(batched[i, : counts[i]], single[0], rtol=1e-5, atol=1e-6)
        for w, sw in zip(weights, single_weights, strict=True):
            n = counts[i]
            torch.testing.assert_close(w[i, :, :n, :n], sw[0], rtol=1e-5, atol=1e-6)
            assert torch.all(w[i, :, :, n:] == 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_masked_keys_change_no_other_output(seed: int) -> None:
    """Appended ground truths: present as queries but not keys, they change no proposal."""
    g = torch.Generator().manual_seed(seed)
    head = small_head("2fc+rm")
    proposals, gts = 6, 3
    features = random_features(2, proposals + gts, generator=g)
    boxes = random_boxes(2, proposals + gts, generator=g)
    key_mask = torch.ones(2, proposals + gts, dtype=torch.bool)
    key_mask[:, proposals:] = False
    with_gt = head(features, boxes, key_mask)
    alone = head(features[:, :proposals], boxes[:, :proposals])
    torch.testing.assert_close(with_gt[:, :proposals], alone, rtol=1e-5, atol=1e-6)
    # the masked rows' own content cannot leak: change it and nothing else moves
    features2 = features.clone()
    features2[:, proposals:] = torch.randn(2, gts, IN_CHANNELS, RESOLUTION, RESOLUTION)
    boxes2 = boxes.clone()
    boxes2[:, proposals:] = random_boxes(2, gts, generator=g)
    torch.testing.assert_close(
        head(features2, boxes2, key_mask)[:, :proposals], with_gt[:, :proposals]
    )


def test_keys_matter_when_not_masked() -> None:
    """The converse: an unmasked extra object does change the others (the test above is not
    vacuous)."""
    g = torch.Generator().manual_seed(5)
    head = small_head("2fc+rm")
    for module in head.modules():  # sharpen the attention so a change is visible
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.3)
    features, boxes = random_features(1, 5, generator=g), random_boxes(1, 5, generator=g)
    out = head(features, boxes)
    assert not torch.allclose(out[:, :4], head(features[:, :4], boxes[:, :4]), atol=1e-5)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "2fc+rm"])
def test_plain_heads_ignore_boxes_and_mask(kind: str) -> None:
    g = torch.Generator().manual_seed(6)
    head = small_head(kind)
    features = random_features(2, 4, generator=g)
    out = head(features, random_boxes(2, 4, generator=g))
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    torch.testing.assert_close(head(features, random_boxes(2, 4, generator=g), mask), out)
    torch.testing.assert_close(head(features[:, :2], random_boxes(2, 2, generator=g)), out[:, :2])


def test_image_without_keys_still_gets_features() -> None:
    g = torch.Generator().manual_seed(7)
    head = small_head("2fc+rm")
    features, boxes = random_features(1, 3, generator=g), random_boxes(1, 3, generator=g)
    out = head(features, boxes, torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all()
