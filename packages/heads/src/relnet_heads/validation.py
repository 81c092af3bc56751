"""Checks at a head's boundary: a ``ValueError`` naming the argument and the offending value."""

from __future__ import annotations

import torch
from torch import Tensor


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
    if not isinstance(features, Tensor) or not features.is_floating_point():
        raise ValueError(f"features must be a floating tensor, got {describe(features)}")
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
    if not isinstance(boxes, Tensor) or not boxes.is_floating_point():
        raise ValueError(f"boxes must be a floating tensor, got {describe(boxes)}")
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
    """``value`` if it is a positive int (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def describe(x: object) -> str:
    """A short description of ``x`` for error messages."""
    if isinstance(x, Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return type(x).__name__
