"""dedup_loss: BCE on s0 * s1 per eta (paper §4.3 'Training') against a slow reference."""

from __future__ import annotations

import math

import pytest
import torch

from relnet_dedup import dedup_loss


def slow_loss(
    logits: torch.Tensor,
    scores: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor,
    pos_weight: float,
) -> float:
    total, count = 0.0, 0
    for g in range(logits.shape[0]):
        for n in range(logits.shape[1]):
            if not valid[g, n]:
                continue
            for t in range(logits.shape[2]):
                s1 = 1.0 / (1.0 + math.exp(-float(logits[g, n, t])))
                p = float(scores[g, n]) * s1
                y = float(targets[g, n, t])
                total += -(pos_weight * y * math.log(p) + (1 - y) * math.log(1 - p))
                count += 1
    return total / count


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("pos_weight", [1.0, 4.0])
def test_matches_slow_reference(seed: int, pos_weight: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 6, 5, generator=gen, dtype=torch.float64) * 3
    scores = torch.rand(3, 6, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    targets = (torch.rand(3, 6, 5, generator=gen) > 0.7).double()
    valid = torch.rand(3, 6, generator=gen) > 0.25
    valid[0, 0] = True
    got = dedup_loss(logits, scores, targets, valid, pos_weight=pos_weight)
    assert float(got) == pytest.approx(
        slow_loss(logits, scores, targets, valid, pos_weight), rel=1e-9
    )


def test_without_mask_averages_everything() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    scores = torch.rand(2, 4, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    targets = (torch.rand(2, 4, 3, generator=gen) > 0.5).double()
    full = torch.ones(2, 4, dtype=torch.bool)
    torch.testing.assert_close(
        dedup_loss(logits, scores, targets), dedup_loss(logits, scores, targets, full)
    )


@pytest.mark.parametrize("s0", [0.0, 1.0, 1e-30])
@pytest.mark.parametrize("z", [-200.0, 0.0, 200.0])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_finite_loss_and_gradient_at_the_extremes(s0: float, z: float, y: float) -> None:
    logits = torch.tensor([[[z]]], requires_grad=True)
    scores = torch.tensor([[s0]], requires_grad=True)
    loss = dedup_loss(logits, scores, torch.tensor([[[y]]]), pos_weight=4.0)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert scores.grad is not None
    assert torch.isfinite(scores.grad).all()


def test_padding_is_ignored_even_when_it_holds_nan() -> None:
    logits = torch.tensor([[[0.5], [float("nan")]]])
    scores = torch.tensor([[0.8, float("nan")]])
    targets = torch.tensor([[[1.0], [0.0]]])
    valid = torch.tensor([[True, False]])
    expected = -math.log(0.8 / (1 + math.exp(-0.5)))
    assert float(dedup_loss(logits, scores, targets, valid)) == pytest.approx(expected, rel=1e-6)
    empty = dedup_loss(logits, scores, targets, torch.zeros(1, 2, dtype=torch.bool))
    assert float(empty) == 0.0


def test_low_s0_negatives_barely_matter() -> None:
    """§4.3: the gradient of a negative is s0 / (1 - s0 s1) small for a small s0."""
    logits = torch.zeros(1, 2, 1, requires_grad=True)
    scores = torch.tensor([[0.005, 0.9]])
    dedup_loss(logits, scores, torch.zeros(1, 2, 1)).backward()
    assert logits.grad is not None
    assert logits.grad[0, 0].abs() < logits.grad[0, 1].abs() / 50


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="logits"):
        dedup_loss(torch.zeros(1, 3, 5), torch.zeros(1, 3), torch.zeros(1, 3, 4))


def test_bad_pos_weight_and_valid_name_the_argument() -> None:
    logits, scores, targets = torch.zeros(2, 3, 5), torch.rand(2, 3), torch.ones(2, 3, 5)
    for bad in (float("nan"), -1.0, float("inf"), "1"):
        with pytest.raises(ValueError, match=r"pos_weight must be a number"):
            dedup_loss(logits, scores, targets, pos_weight=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"valid must be a bool tensor, got torch.float32"):
        dedup_loss(logits, scores, targets, torch.ones(2, 3))
