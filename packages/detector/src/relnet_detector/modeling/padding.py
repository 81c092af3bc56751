"""Padding the per-image rows of a batch (torchvision keeps them concatenated, ``[sum N_i, ...]``)
into ``[B, N, ...]`` for the relation head, and back."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["PAD_BOX", "pad_boxes", "pad_rows", "unpad_rows"]

# A padding row's box: finite and of positive size (it is a query of the relation modules, never
# a key, so its value only has to keep the arithmetic finite).
PAD_BOX = (0.0, 0.0, 1.0, 1.0)


def pad_rows(x: Tensor, counts: Sequence[int], fill: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """Split ``x`` into images of ``counts`` rows and pad them to the longest.

    Args:
        x (Tensor[sum(counts), ...]): the rows of all images, image after image.
        counts (sequence of int): rows per image.
        fill (Tensor[...] or float): the value of a padding row.

    Returns:
        (Tensor[B, N, ...], Tensor[B, N] bool): the padded rows (a view of ``x`` when all counts
        are equal) and which of them are real.
    """
    b, n = len(counts), max(counts, default=0)
    valid = (
        torch.arange(n, device=x.device)[None, :] < torch.tensor(counts, device=x.device)[:, None]
    )
    if all(c == n for c in counts):
        return x.reshape(b, n, *x.shape[1:]), valid  # [B, N, ...]
    out = x.new_empty(b, n, *x.shape[1:])  # [B, N, ...]
    out[~valid] = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    out[valid] = x
    return out, valid


def pad_boxes(boxes: Tensor, counts: Sequence[int]) -> Tensor:
    """:func:`pad_rows` of boxes ``[sum N_i, 4]`` with :data:`PAD_BOX` padding -> ``[B, N, 4]``."""
    fill = torch.tensor(PAD_BOX, dtype=boxes.dtype, device=boxes.device)
    return pad_rows(boxes, counts, fill)[0]


def unpad_rows(x: Tensor, valid: Tensor) -> Tensor:
    """Inverse of :func:`pad_rows`: ``[B, N, ...]`` -> ``[sum N_i, ...]`` (a view if no padding)."""
    if bool(valid.all()):
        return x.flatten(0, 1)  # [B*N, ...]
    return x[valid]  # [sum N_i, ...]
