"""Padded training batches (issue 11): a batch of groups of different sizes gives the loss and the
gradients of its groups run one at a time, and its valid mask counts exactly the real rows."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from relnet_dedup import DedupConfig, DuplicateRemovalNetwork, SyntheticConfig, make_synthetic
from relnet_dedup.testing import assert_padded_batch_matches_groups, dedup_training_loss
from relnet_dedup.training.batches import TrainingGroups, build_training_groups

DATA = SyntheticConfig(
    num_classes=3, classes_per_image=(1, 3), objects_per_class=(1, 3), duplicates=(2, 6), feat_dim=6
)
SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}


def training_groups(config: DedupConfig, seed: int) -> TrainingGroups:
    images = make_synthetic(6, DATA, seed=seed)
    groups = build_training_groups(images, config, 0.01, 100, torch.device("cpu"))
    as64 = {
        "boxes": groups.boxes.double(),
        "scores": groups.scores.double(),
        "targets": groups.targets.double(),
        "features": None if groups.features is None else groups.features.double(),
    }
    return replace(groups, **as64)  # float64: the comparison is then tight


def model(config: DedupConfig, seed: int) -> DuplicateRemovalNetwork:
    torch.manual_seed(seed)
    net = DuplicateRemovalNetwork(config).double().train()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.2)  # large enough that every key matters
    return net


def group_rows(groups: TrainingGroups, ids: torch.Tensor) -> list[list[torch.Tensor]]:
    """Each group's real rows, straight from the flat layout (not through the padding code)."""
    out = []
    for g in ids.tolist():
        rows = slice(int(groups.start[g]), int(groups.start[g] + groups.size[g]))
        tensors = [groups.boxes[rows], groups.scores[rows], groups.targets[rows]]
        if groups.features is not None:
            tensors.append(groups.features[rows])
        out.append(tensors)
    return out


def batch_tensors(
    groups: TrainingGroups, ids: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    batch = groups.batch(ids)
    tensors = [batch.boxes, batch.scores, batch.targets]
    if batch.features is not None:
        tensors.append(batch.features)
    return tensors, batch.valid


def mixed_sizes(groups: TrainingGroups, count: int = 6) -> torch.Tensor:
    """Group ids spanning the smallest to the largest group, so most rows carry padding."""
    order = torch.sort(groups.size, stable=True).indices
    picks = torch.linspace(0, len(order) - 1, count).round().long().unique()
    return order[picks].flip(0)


def padded_case(
    config: DedupConfig, seed: int
) -> tuple[TrainingGroups, torch.Tensor, DuplicateRemovalNetwork, list[torch.Tensor], torch.Tensor]:
    """The groups of seed ``seed``, a batch of them of mixed sizes, the float64 network and the
    batch's padded tensors and mask."""
    groups = training_groups(config, seed)
    ids = mixed_sizes(groups)
    net = model(config, seed)
    tensors, valid = batch_tensors(groups, ids)
    return groups, ids, net, tensors, valid


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("use_appearance", "geometry", "rank_feature"),
    [(False, "pairwise", "rank"), (True, "pairwise", "rank"), (True, "unary", "score"),
     (False, "none", "rank")],
)  # fmt: skip
@pytest.mark.parametrize("pos_weight", [1.0, 4.0])
def test_padded_batch_trains_like_its_groups_one_at_a_time(
    seed: int, use_appearance: bool, geometry: str, rank_feature: str, pos_weight: float
) -> None:
    config = DedupConfig(
        feat_dim=6,
        use_appearance=use_appearance,
        geometry=geometry,  # type: ignore[arg-type]
        rank_feature=rank_feature,  # type: ignore[arg-type]
        **SMALL,
    )
    groups, ids, net, tensors, valid = padded_case(config, seed)
    sizes = groups.size[ids]
    assert len(set(sizes.tolist())) >= 3, sizes  # really groups of different sizes
    assert int(valid.sum()) == int(sizes.sum())  # issue 11: the real rows, no padding
    assert_padded_batch_matches_groups(
        net,
        dedup_training_loss(net, pos_weight=pos_weight),
        tensors,
        valid,
        group_rows(groups, ids),
        rtol=1e-9,
        atol=1e-12,
    )


def test_every_batch_of_an_epoch_is_exact() -> None:
    """Every batch fit builds in one epoch (its bucketing and shuffling), float64."""
    config = DedupConfig(use_appearance=False, **SMALL)
    groups = training_groups(config, 7)
    net = model(config, 7)
    for ids in groups.batches(4, torch.Generator().manual_seed(0)):
        tensors, valid = batch_tensors(groups, ids)
        loss_fn = dedup_training_loss(net)
        assert_padded_batch_matches_groups(
            net, loss_fn, tensors, valid, group_rows(groups, ids), rtol=1e-9, atol=1e-12
        )


def test_the_check_catches_padding_marked_valid() -> None:
    """Issue 11's bug (TrainingGroups.batch marking the padding slots valid) fails the check."""
    config = DedupConfig(use_appearance=False, **SMALL)
    groups, ids, net, tensors, valid = padded_case(config, 0)
    buggy = torch.ones_like(valid)  # the planted bug: every slot valid
    with pytest.raises(AssertionError, match=r"valid marks \d+ slots of batch row \d+ as real"):
        assert_padded_batch_matches_groups(
            net, dedup_training_loss(net), tensors, buggy, group_rows(groups, ids)
        )


def test_the_check_catches_padding_used_as_relation_keys() -> None:
    """A mask that is right but not handed to the relation module: the loss check fails."""
    config = DedupConfig(use_appearance=False, **SMALL)
    groups, ids, net, tensors, valid = padded_case(config, 1)
    right = dedup_training_loss(net)

    def keys_unmasked(ts: list[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
        from relnet_dedup import dedup_loss

        logits = net(ts[0], ts[1], torch.ones_like(v), None)  # padding serves as keys
        return dedup_loss(logits, ts[1], ts[2], v)

    assert_padded_batch_matches_groups(net, right, tensors, valid, group_rows(groups, ids))
    with pytest.raises(AssertionError, match=r"the padded batch's loss differs"):
        assert_padded_batch_matches_groups(
            net,
            keys_unmasked,
            tensors,
            valid,
            group_rows(groups, ids),  # type: ignore[arg-type]
        )


def test_the_check_catches_wrong_rows_and_wrong_gradients() -> None:
    config = DedupConfig(use_appearance=False, **SMALL)
    groups, ids, net, tensors, valid = padded_case(config, 2)
    rows = group_rows(groups, ids)
    shuffled = [rows[-1], *rows[1:-1], rows[0]] if rows[0][0].shape != rows[-1][0].shape else rows
    with pytest.raises(AssertionError, match=r"valid marks|do not hold its group's rows"):
        assert_padded_batch_matches_groups(net, dedup_training_loss(net), tensors, valid, shuffled)

    def summed(ts: list[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
        return dedup_training_loss(net)(ts, v) * float(v.sum())  # a sum, checked as a mean

    with pytest.raises(AssertionError, match=r"loss differs"):
        assert_padded_batch_matches_groups(net, summed, tensors, valid, rows)  # type: ignore[arg-type]
    assert_padded_batch_matches_groups(
        net, summed, tensors, valid, rows, reduction="sum", rtol=1e-9
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(
    ("rank_feature", "head", "overlap"),
    [("rank", "relu", True), ("rank+score", "mlp", True), ("rank+score", "linear", False)],
)
def test_the_new_inputs_and_heads_train_like_groups_one_at_a_time(
    seed: int, rank_feature: str, head: str, overlap: bool
) -> None:
    """Issue 16's network options (the overlap feature, rank + score, the ReLU and MLP heads):
    padding changes neither the loss nor any gradient."""
    config = DedupConfig(
        feat_dim=6,
        rank_feature=rank_feature,  # type: ignore[arg-type]
        head=head,  # type: ignore[arg-type]
        overlap_feature=overlap,
        **SMALL,
    )
    groups, ids, net, tensors, valid = padded_case(config, seed)
    assert_padded_batch_matches_groups(
        net, dedup_training_loss(net), tensors, valid, group_rows(groups, ids),
        rtol=1e-9, atol=1e-12,
    )  # fmt: skip
