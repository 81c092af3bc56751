"""Checks for tests of padded training (issue 11): a padded batch of groups of different sizes must
train exactly like its groups run one at a time.

Groups (one class of one image) are padded to a common size for one batched forward; the padding
must never count: not as a relation key of a shorter group, not in the loss. Inference has
``test_matches_per_group_loop``; :func:`assert_padded_batch_matches_groups` is the same property
for training (the loss and every gradient), so the dedup package and the detector that trains it
end to end check their padding with one function. It needs torch only (no pytest).

Example:
    >>> from relnet_dedup import DedupConfig, build_dedup_network
    >>> net = build_dedup_network(DedupConfig(use_appearance=False, embed_dim=16,
    ...                                       num_relations=2, key_dim=4, geo_dim=8))
    >>> boxes = torch.tensor([[[0.0, 0, 10, 10], [1, 1, 11, 11]], [[5, 5, 9, 9], [0, 0, 1, 1]]])
    >>> scores = torch.tensor([[0.9, 0.8], [0.7, 0.0]])
    >>> targets = torch.tensor([[[1.0], [0.0]], [[1.0], [0.0]]]).expand(2, 2, 5)
    >>> valid = torch.tensor([[True, True], [True, False]])
    >>> groups = [(boxes[0], scores[0], targets[0]), (boxes[1, :1], scores[1, :1], targets[1, :1])]
    >>> assert_padded_batch_matches_groups(
    ...     net, dedup_training_loss(net), (boxes, scores, targets), valid, groups)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from relnet_core.checks import check_choice

from .training.loss import dedup_loss

__all__ = ["assert_padded_batch_matches_groups", "dedup_training_loss"]

LossFn = Callable[[Sequence[Tensor], Tensor], Tensor]


def assert_padded_batch_matches_groups(
    model: nn.Module,
    loss_fn: LossFn,
    batch: Sequence[Tensor],
    valid: Tensor,
    groups: Sequence[Sequence[Tensor]],
    *,
    reduction: str = "mean",
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Assert that a padded batch gives the loss and gradients of its groups run one at a time.

    Checks, in order: ``valid`` marks exactly ``n_b`` slots of row ``b`` (the real rows of group
    ``b``, never padding); those slots hold the group's rows, in order; the batch's loss equals
    the groups' losses combined as ``reduction`` says; and the gradient of every parameter of
    ``model`` equals that of the combined per-group losses.

    Args:
        model (nn.Module): the module ``loss_fn`` runs; its parameters' gradients are compared
            (computed with ``torch.autograd.grad``, so ``.grad`` is left alone).
        loss_fn (callable): ``(tensors, valid) -> loss``: the scalar training loss of padded
            ``tensors`` (each ``[B, M, ...]``, in the order of ``batch``) with the mask ``valid``
            ``[B, M]``.
        batch (sequence of Tensor[B, M, ...]): the padded tensors under test.
        valid (Tensor[B, M], bool): the batch's mask under test.
        groups (sequence of sequences of Tensor[n_b, ...]): for each row ``b`` of the batch, the
            group's real rows, one tensor per entry of ``batch``.
        reduction (str): ``"mean"``: the batch loss averages over all real rows, so it must equal
            ``sum_b n_b L_b / sum_b n_b`` with ``L_b`` the loss of group ``b`` alone (the loss of
            :func:`relnet_dedup.dedup_loss`); ``"sum"``: ``sum_b L_b``.
        rtol (float), atol (float): tolerances of the loss and gradient comparisons.

    Raises:
        AssertionError: the first property that does not hold, with what differs.
    """
    check_choice("reduction", reduction, ("mean", "sum"))
    sizes = _check_layout(batch, valid, groups)
    params = [p for p in model.parameters() if p.requires_grad]

    batch_loss = loss_fn(batch, valid)
    batch_grads = _grads(batch_loss, params)

    total = sum(sizes)
    reference = batch_loss.new_zeros(())
    for group, n in zip(groups, sizes, strict=True):
        if n == 0:
            continue  # an empty group adds nothing to a mean or a sum
        ones = torch.ones(1, n, dtype=torch.bool, device=valid.device)
        loss = loss_fn([t[None] for t in group], ones)  # [1, n, ...] each
        reference = reference + (loss * (n / total) if reduction == "mean" else loss)
    ref_grads = _grads(reference, params)

    torch.testing.assert_close(
        batch_loss.detach(),
        reference.detach(),
        rtol=rtol,
        atol=atol,
        msg=lambda m: f"the padded batch's loss differs from its groups' ({reduction}): {m}",
    )
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for name, got, expected in zip(names, batch_grads, ref_grads, strict=True):
        torch.testing.assert_close(
            got,
            expected,
            rtol=rtol,
            atol=atol,
            msg=lambda m, name=name: (  # type: ignore[misc]
                f"the gradient of {name} on the padded batch differs from its groups': {m}"
            ),
        )


def dedup_training_loss(model: nn.Module, *, pos_weight: float = 1.0) -> LossFn:
    """The loss function of :func:`relnet_dedup.fit` in the form the check takes.

    Args:
        model (nn.Module): a :class:`relnet_dedup.DuplicateRemovalNetwork`.
        pos_weight (float): as for :func:`relnet_dedup.dedup_loss`.

    Returns:
        callable: ``((boxes [B, M, 4], scores [B, M], targets [B, M, T][, features [B, M, D]]),
        valid [B, M]) -> dedup_loss(model(boxes, scores, valid, features), scores, targets,
        valid)``.
    """

    def loss(tensors: Sequence[Tensor], valid: Tensor) -> Tensor:
        boxes, scores, targets, *rest = tensors
        features = rest[0] if rest else None
        logits = model(boxes, scores, valid, features)  # [B, M, T]
        return dedup_loss(logits, scores, targets, valid, pos_weight=pos_weight)

    return loss


def _check_layout(
    batch: Sequence[Tensor], valid: Tensor, groups: Sequence[Sequence[Tensor]]
) -> list[int]:
    """The group sizes, after asserting that ``valid`` marks exactly the real rows."""
    assert isinstance(valid, Tensor), f"valid must be a tensor, got {type(valid).__name__}"
    assert valid.dtype == torch.bool, f"valid must be bool, got {valid.dtype}"
    assert valid.dim() == 2, f"valid must have shape [B, M], got {tuple(valid.shape)}"
    assert len(groups) == valid.shape[0], (
        f"{len(groups)} groups for a batch of {valid.shape[0]} rows"
    )
    for k, tensor in enumerate(batch):
        assert tuple(tensor.shape[:2]) == tuple(valid.shape), (
            f"batch[{k}] has shape {tuple(tensor.shape)}, not [B, M, ...] = {tuple(valid.shape)}"
        )
    sizes = []
    for b, group in enumerate(groups):
        assert len(group) == len(batch), f"group {b} has {len(group)} tensors, batch {len(batch)}"
        n = int(group[0].shape[0])
        marked = int(valid[b].sum())
        assert marked == n, (
            f"valid marks {marked} slots of batch row {b} as real, but its group has {n} rows: "
            "padding must never be valid (it would serve as a relation key and count in the loss)"
        )
        for k, (padded, real) in enumerate(zip(batch, group, strict=True)):
            assert torch.equal(padded[b][valid[b]], real), (
                f"the valid slots of batch row {b} do not hold its group's rows (batch[{k}])"
            )
        sizes.append(n)
    return sizes


def _grads(loss: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    if not loss.requires_grad:  # e.g. no real row at all
        return [torch.zeros_like(p) for p in params]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
