"""Training groups for the duplicate removal network (paper §4.3, 'Training').

Every (image, class) pair whose detections pass the score threshold is one group: its at most
``first_n`` highest-scoring detections with their multi-threshold targets. Groups of similar size
are batched together (a bucket iterator), so little compute goes to padding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import ImageDetections
from ..grouping import select_candidates
from ..network.config import DedupConfig
from .targets import batched_assign_duplicate_targets


@dataclass(frozen=True)
class GroupBatch:
    """A padded batch of groups: boxes ``[B, M, 4]``, scores ``[B, M]``, targets ``[B, M, T]``,
    features ``[B, M, D]`` or None, and the valid mask ``[B, M]``."""

    boxes: Tensor
    scores: Tensor
    targets: Tensor
    features: Tensor | None
    valid: Tensor


@dataclass(frozen=True)
class TrainingGroups:
    """All groups of a training set, flat: group ``g`` holds rows ``start[g] : start[g] + size[g]``.

    Attributes:
        boxes (Tensor[K, 4]), scores (Tensor[K]), targets (Tensor[K, T]),
        features (Tensor[K, D] or None): the selected detections, group-major.
        start (Tensor[G]), size (Tensor[G]): where each group lies.
    """

    boxes: Tensor
    scores: Tensor
    targets: Tensor
    features: Tensor | None
    start: Tensor
    size: Tensor

    @property
    def num_groups(self) -> int:
        return int(self.size.numel())

    def batch(self, groups: Tensor) -> GroupBatch:
        """The groups ``groups[B]`` padded to their largest size."""
        size = self.size[groups]  # [B]
        width = int(size.max())
        slot = torch.arange(width, device=size.device)  # [M]
        valid = slot[None, :] < size[:, None]  # [B, M]
        index = torch.where(valid, self.start[groups][:, None] + slot[None, :], 0)  # [B, M]
        feats = None if self.features is None else self.features[index]  # [B, M, D]
        return GroupBatch(self.boxes[index], self.scores[index], self.targets[index], feats, valid)

    def batches(self, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
        """Group ids of each batch of one epoch: shuffled, then sorted by size within pools of
        ``8 * batch_size`` groups and cut into batches, whose order is shuffled again."""
        order = torch.randperm(self.num_groups, generator=gen)  # [G]
        pool = 8 * batch_size
        chunks: list[Tensor] = []
        for first in range(0, self.num_groups, pool):
            ids = order[first : first + pool]
            ids = ids[torch.sort(self.size.cpu()[ids], stable=True).indices]
            chunks.extend(torch.split(ids, batch_size))
        for i in torch.randperm(len(chunks), generator=gen).tolist():
            yield chunks[i].to(self.size.device)


def build_training_groups(
    images: Sequence[ImageDetections],
    config: DedupConfig,
    score_threshold: float,
    first_n: int,
    device: torch.device,
) -> TrainingGroups:
    """Select every image's groups, assign their targets and lay them out flat on ``device``."""
    parts: list[tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor]] = []
    for i, raw in enumerate(images):
        image = raw.to(device)
        feats = image.features if config.use_appearance else None
        if config.use_appearance and (feats is None or feats.shape[1] != config.feat_dim):
            got = None if feats is None else tuple(feats.shape)
            raise ValueError(
                f"images[{i}] (image_id {image.image_id}): features must have shape "
                f"[N, {config.feat_dim}] for a network with use_appearance, got {got}"
            )
        kept = select_candidates(image.scores, image.labels, score_threshold, first_n)  # [K]
        boxes, scores, labels = image.boxes[kept], image.scores[kept], image.labels[kept]
        targets = batched_assign_duplicate_targets(
            boxes, scores, labels, image.gt_boxes, image.gt_labels, config.thresholds
        )  # [K, T]
        sizes = torch.unique_consecutive(labels, return_counts=True)[1]  # [G_i]
        parts.append((boxes, scores, targets, None if feats is None else feats[kept], sizes))
    size = torch.cat([p[4] for p in parts])  # [G]
    if size.numel() == 0:
        raise ValueError(f"no detection of any image has a score above {score_threshold}")
    feats_all = None if not config.use_appearance else torch.cat([p[3] for p in parts])  # type: ignore[misc]
    return TrainingGroups(
        boxes=torch.cat([p[0] for p in parts]),
        scores=torch.cat([p[1] for p in parts]),
        targets=torch.cat([p[2] for p in parts]),
        features=feats_all,
        start=torch.cumsum(size, 0) - size,
        size=size,
    )
