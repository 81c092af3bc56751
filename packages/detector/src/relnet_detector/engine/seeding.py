"""Randomness of training as a function of (seed, epoch, image): reproducible on any split.

Augmentation, the RPN's anchor sampling and the RoI heads' proposal sampling (torchvision's
``BalancedPositiveNegativeSampler``) draw from the global RNG in torchvision, so their result
depends on which process and which data-loader worker handles an image and on everything drawn
before it. Here each image gets its own generator, seeded from the run's seed, the epoch and the
image, so that

- one process on a batch of ``2B`` images samples exactly what two processes on ``B`` each do
  (DDP equals one process on the combined batch), and
- a run resumed in the middle of an epoch draws exactly what the uninterrupted run drew.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler, Sampler

from relnet_core.seeding import mix_seed

__all__ = [
    "EpochSampler",
    "FgBgSampler",
    "SeededFgBgSampler",
    "SeededItems",
    "install_seeded_samplers",
    "mix_seed",
    "seeded_sampling",
]


class FgBgSampler(Protocol):
    """What torchvision's RPN and RoI heads call as ``fg_bg_sampler``: its sizes, and per image
    of the batch a positive and a negative mask of the anchors or proposals."""

    batch_size_per_image: int
    positive_fraction: float

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]: ...


class SeededFgBgSampler:
    """torchvision's balanced positive/negative sampling with one generator per image.

    While :attr:`seeds` is set (one int per image of the batch), image ``i`` draws from a
    generator seeded with ``mix_seed(seeds[i], salt)``; otherwise the sampler it replaced
    (``fallback``, torchvision's, drawing from the global RNG) samples.

    Args:
        fallback (FgBgSampler): the sampler it replaces; gives the sizes.
        salt (int): tells the samplers of one model apart (the RPN's 0, the RoI heads' 1).
    """

    def __init__(self, fallback: FgBgSampler, salt: int) -> None:
        self.fallback = fallback
        self.batch_size_per_image = fallback.batch_size_per_image
        self.positive_fraction = fallback.positive_fraction
        self.salt = salt
        self.seeds: Sequence[int] | None = None

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        if self.seeds is None:
            return self.fallback(matched_idxs)
        if len(self.seeds) != len(matched_idxs):
            raise RuntimeError(f"{len(self.seeds)} seeds for a batch of {len(matched_idxs)} images")
        pos_masks, neg_masks = [], []
        for seed, matched in zip(self.seeds, matched_idxs, strict=True):  # matched: [A]
            gen = torch.Generator(device=matched.device).manual_seed(mix_seed(seed, self.salt))
            positive = torch.where(matched >= 1)[0]  # [P]
            negative = torch.where(matched == 0)[0]  # [Q]
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            perm1 = torch.randperm(positive.numel(), generator=gen, device=matched.device)
            perm2 = torch.randperm(negative.numel(), generator=gen, device=matched.device)
            pos_mask = torch.zeros_like(matched, dtype=torch.uint8)  # [A]
            neg_mask = torch.zeros_like(matched, dtype=torch.uint8)  # [A]
            pos_mask[positive[perm1[:num_pos]]] = 1
            neg_mask[negative[perm2[:num_neg]]] = 1
            pos_masks.append(pos_mask)
            neg_masks.append(neg_mask)
        return pos_masks, neg_masks


def install_seeded_samplers(model: nn.Module) -> list[SeededFgBgSampler]:
    """Replace every module's ``fg_bg_sampler`` (torchvision's RPN and RoI heads: anything with
    ``batch_size_per_image`` and ``positive_fraction``) by a :class:`SeededFgBgSampler` that
    falls back on it; returns them, RPN first."""
    samplers: list[SeededFgBgSampler] = []
    for module in model.modules():
        old = getattr(module, "fg_bg_sampler", None)
        if hasattr(old, "batch_size_per_image") and hasattr(old, "positive_fraction"):
            new = SeededFgBgSampler(cast(FgBgSampler, old), salt=len(samplers))
            setattr(module, "fg_bg_sampler", new)  # noqa: B010 (a Module attribute, typed Tensor | Module)
            samplers.append(new)
    return samplers


@contextlib.contextmanager
def seeded_sampling(samplers: Sequence[SeededFgBgSampler], seeds: Sequence[int]) -> Iterator[None]:
    """Within the block, the samplers draw image ``i``'s samples from ``seeds[i]``."""
    for sampler in samplers:
        sampler.seeds = list(seeds)
    try:
        yield
    finally:
        for sampler in samplers:
            sampler.seeds = None


class SeededItems(Dataset[Any]):
    """``dataset[index]`` with the global torch RNG seeded from the item's own seed (so that
    ``transforms.v2`` augmentation does not depend on the worker or on what came before); the
    caller's RNG state is restored afterwards. Indexed by ``(index, seed)`` pairs as
    :class:`EpochSampler` yields them."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


class EpochSampler(Sampler[tuple[int, int]]):
    """One process's share of an epoch, as ``(index, item seed)`` pairs, from a given position.

    Wraps ``DistributedSampler`` (seeded shuffle, ``set_epoch``; ``rank``'s share of
    ``num_replicas``), skipping the first ``start`` indices of the epoch so that a resumed run
    continues where it stopped without loading the skipped images.
    """

    def __init__(self, size: int, num_replicas: int, rank: int, seed: int) -> None:
        indices: Any = range(size)  # DistributedSampler only needs len()
        self._base: DistributedSampler[int] = DistributedSampler(
            indices, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed
        )
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Shuffle for ``epoch`` and begin at this process's ``start``-th index."""
        self._base.set_epoch(epoch)
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return max(len(self._base) - self.start, 0)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for position, index in enumerate(self._base):
            if position >= self.start:
                yield index, mix_seed(self.seed, self.epoch, index)
