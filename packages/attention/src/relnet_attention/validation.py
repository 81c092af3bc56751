"""Checks at the relation module's boundary: a ValueError naming the argument and the value."""

from __future__ import annotations

import torch
from torch import Tensor

from relnet_geometry import check_boxes


def check_inputs(
    features: Tensor,
    boxes: Tensor,
    key_mask: Tensor | None,
    feat_dim: int,
    weight_dtype: torch.dtype | None = None,
) -> None:
    """Raise ``ValueError`` unless features ``[..., N, d_f]``, boxes ``[..., N, 4]`` and key_mask
    ``[..., N]`` agree, the boxes are floating and finite, the key_mask is boolean, and the
    features have the weights' dtype ``weight_dtype`` (unless autocast is on for their device)."""
    if not isinstance(features, Tensor) or not features.is_floating_point():
        raise ValueError(f"features must be a floating tensor, got {_describe(features)}")
    if (
        weight_dtype is not None
        and features.dtype != weight_dtype
        and not torch.is_autocast_enabled(features.device.type)
    ):
        raise ValueError(
            f"features must have the dtype of the module's weights, {weight_dtype}, got "
            f"{features.dtype}: convert one of them (module.to({weight_dtype}) or "
            f"features.to({weight_dtype})), or run under torch.autocast"
        )
    if features.dim() < 2 or features.shape[-1] != feat_dim:
        raise ValueError(
            f"features must have shape [..., N, {feat_dim}], got {tuple(features.shape)}"
        )
    if not isinstance(boxes, Tensor) or not boxes.is_floating_point():
        raise ValueError(f"boxes must be a floating tensor, got {_describe(boxes)}")
    expected = (*features.shape[:-1], 4)
    if tuple(boxes.shape) != expected:
        raise ValueError(
            f"boxes must have shape {expected} to match features {tuple(features.shape)}, "
            f"got {tuple(boxes.shape)}"
        )
    check_boxes("boxes", boxes)
    if key_mask is not None:
        if not isinstance(key_mask, Tensor) or key_mask.dtype != torch.bool:
            raise ValueError(f"key_mask must be a bool tensor, got {_describe(key_mask)}")
        if tuple(key_mask.shape) != tuple(features.shape[:-1]):
            raise ValueError(
                f"key_mask must have shape {tuple(features.shape[:-1])} to match features, "
                f"got {tuple(key_mask.shape)}"
            )


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return type(x).__name__
