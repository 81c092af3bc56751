"""Checks at the relation module's boundary: a ValueError naming the argument and the value.

The generic checks are :mod:`relnet_core.checks`'; what is left here is the module's own: its
sizes' divisibility and the shapes of features ``[..., N, d_f]``, boxes ``[..., N, 4]`` and key
mask ``[..., N]`` that must agree.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from relnet_core.checks import check_choice, check_int, check_tensor
from relnet_geometry import check_boxes

Geometry = Literal["pairwise", "unary", "none"]
GEOMETRIES: tuple[str, ...] = ("pairwise", "unary", "none")
ValueInit = Literal["normal", "zero"]
VALUE_INITS: tuple[str, ...] = ("normal", "zero")


def check_config(
    feat_dim: int, num_relations: int, key_dim: int, geo_dim: int, geometry: str, chunk_size: int
) -> None:
    """Raise ``ValueError`` unless the sizes are positive ints (not bools) and divide as
    :class:`relnet_attention.RelationModule` needs: ``num_relations`` divides ``feat_dim``, 8
    divides ``geo_dim`` (pairwise geometry) or ``feat_dim`` (unary geometry)."""
    check_choice("geometry", geometry, GEOMETRIES)
    for name, value in [
        ("feat_dim", feat_dim),
        ("num_relations", num_relations),
        ("key_dim", key_dim),
        ("geo_dim", geo_dim),
        ("chunk_size", chunk_size),
    ]:
        _check_positive_int(name, value)
    if feat_dim % num_relations != 0:
        raise ValueError(
            f"feat_dim ({feat_dim}) must be divisible by num_relations ({num_relations})"
        )
    if geometry == "pairwise" and geo_dim % 8 != 0:
        raise ValueError(f"geo_dim must be divisible by 8, got {geo_dim}")
    if geometry == "unary" and feat_dim % 8 != 0:
        raise ValueError(f"feat_dim must be divisible by 8 for unary geometry, got {feat_dim}")


def _check_positive_int(name: str, value: object) -> None:
    """:func:`relnet_core.checks.check_int` ``>= 1``, with this module's message ("must be a
    positive int"), which its users match."""
    try:
        check_int(name, value, low=1)
    except ValueError:
        raise ValueError(f"{name} must be a positive int, got {value!r}") from None


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
    check_tensor("features", features, finite=False)
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
