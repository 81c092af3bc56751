"""Checks at a head's boundary: a ``ValueError`` naming the argument and the offending value.

The generic checks are :mod:`relnet_core.checks`'; what is left here is the heads' own: the
pooled features ``[B, N, C, H, W]`` (or flat), boxes ``[B, N, 4]`` and key mask ``[B, N]`` that
must agree, and sizes with the wording ("a positive int") that users of the heads match.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from relnet_core.checks import check_int, check_tensor


def flatten_features(features: Tensor, in_channels: int, resolution: int) -> Tensor:
    """Check the pooled RoI features of a batch and flatten each object's to one vector.

    Args:
        features (Tensor[B, N, C, H, W] or Tensor[B, N, C * H * W]): floating, with
            ``C = in_channels`` and ``H = W = resolution``.
        in_channels (int): ``C``.
        resolution (int): ``H = W``.

    Returns:
        Tensor[B, N, C * H * W]: a view when possible.
    """
    size = in_channels * resolution * resolution
    check_tensor("features", features, finite=False)
    if features.dim() == 5:
        expected = (in_channels, resolution, resolution)
        if tuple(features.shape[2:]) != expected:
            raise ValueError(
                f"features must have shape [B, N, {in_channels}, {resolution}, {resolution}], "
                f"got {tuple(features.shape)}"
            )
        return features.flatten(2)  # [B, N, C*H*W]
    if features.dim() == 3 and features.shape[-1] == size:
        return features
    raise ValueError(
        f"features must have shape [B, N, {in_channels}, {resolution}, {resolution}] or "
        f"[B, N, {size}], got {tuple(features.shape)}"
    )


def check_boxes_and_mask(features: Tensor, boxes: Tensor, key_mask: Tensor | None) -> None:
    """Raise ``ValueError`` unless ``boxes`` is floating ``[B, N, 4]`` and ``key_mask`` bool
    ``[B, N]``, both matching ``features`` ``[B, N, D]`` (finiteness is the relation module's)."""
    lead = tuple(features.shape[:2])
    check_tensor("boxes", boxes, finite=False)
    if tuple(boxes.shape) != (*lead, 4):
        raise ValueError(
            f"boxes must have shape {[*lead, 4]} to match features {tuple(features.shape)}, "
            f"got {tuple(boxes.shape)}"
        )
    if key_mask is None:
        return
    if not isinstance(key_mask, Tensor) or key_mask.dtype != torch.bool:
        raise ValueError(f"key_mask must be a bool tensor, got {describe(key_mask)}")
    if tuple(key_mask.shape) != lead:
        raise ValueError(
            f"key_mask must have shape {list(lead)} to match features {tuple(features.shape)}, "
            f"got {tuple(key_mask.shape)}"
        )


def check_positive_int(name: str, value: object) -> int:
    """``value`` if it is a positive int (not a bool; a numpy integer becomes an ``int``), else
    ``ValueError`` "NAME must be a positive int" (:func:`relnet_core.checks.check_int`)."""
    try:
        result: int = check_int(name, value, low=1)
    except ValueError:
        raise ValueError(f"{name} must be a positive int, got {value!r}") from None
    return result


def check_block_counts(name: str, value: Iterable[object]) -> tuple[int, int]:
    """``value`` as a pair of non-negative ints (residual blocks after fc1 and after fc2), else
    ``ValueError`` "NAME must be two non-negative ints"."""
    blocks = tuple(value)
    try:
        if len(blocks) == 2:
            return check_int(name, blocks[0], low=0), check_int(name, blocks[1], low=0)
    except ValueError:
        pass
    raise ValueError(f"{name} must be two non-negative ints, got {value!r}")


def describe(x: object) -> str:
    """A short description of ``x`` for error messages."""
    if isinstance(x, Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return type(x).__name__
