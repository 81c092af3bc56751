"""torch.distributed for one process or many: the same code under ``python`` and ``torchrun``.

``torchrun --nproc_per_node N`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; a plain
``python`` run sets none and is a world of one, without a process group. GPUs use NCCL (one per
process, ``LOCAL_RANK`` picks it), CPUs gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "all_gather_object",
    "all_reduce_mean",
    "all_reduce_sum",
    "cleanup",
    "first_error",
    "setup",
]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run.

    Attributes:
        rank: global rank (0 logs and writes files).
        world_size: number of processes.
        local_rank: rank on this node (picks the GPU).
        device: where this process trains.
        owns_group: whether :func:`setup` created the process group (and cleanup destroys it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def setup(device: str | torch.device | None = None) -> DistInfo:
    """Read the torchrun environment, pick the device and join the process group if needed.

    Args:
        device (str | torch.device, optional): ``"cuda"`` (the ``LOCAL_RANK``-th GPU), ``"cpu"``
            or an explicit device; by default CUDA when available, else the CPU.

    Returns:
        DistInfo: rank, world size and device of this process.
    """
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    else:
        world, rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank if world > 1 else 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK {rank} is not in a world of WORLD_SIZE {world}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistInfo(rank, world, local_rank, device, owns)


def cleanup(info: DistInfo) -> None:
    """Leave the process group if :func:`setup` joined it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean over processes of ``values`` (any shape); itself in a world of one."""
    if not info.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The sum over processes of ``values`` (any shape); itself in a world of one."""
    if not info.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj``, in rank order (pickled; for small things such as RNG states)."""
    if not info.distributed:
        return [obj]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def first_error(message: str | None, info: DistInfo) -> str | None:
    """The first non-None ``message`` over processes, so that every process fails together
    (rather than some waiting forever for one that stopped)."""
    for found in all_gather_object(message, info):
        if found is not None:
            return str(found)
    return None
