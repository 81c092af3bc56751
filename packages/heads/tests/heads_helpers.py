"""Helpers shared by the heads tests: random boxes and features, and small heads of every kind."""

from __future__ import annotations

import torch
from torch import Tensor

from relnet_heads import BoxHead, HeadConfig, RelationConfig, build_head

IN_CHANNELS, RESOLUTION, HIDDEN = 8, 3, 32
KINDS = ("2fc", "3fc", "2fc+res", "2fc+rm")


def small_config(kind: str, geometry: str = "pairwise", r: tuple[int, int] = (1, 1)) -> HeadConfig:
    """A narrow head of ``kind`` with ``r`` relation modules or residual blocks."""
    relation = RelationConfig(num_relations=4, key_dim=8, geo_dim=16, geometry=geometry)  # type: ignore[arg-type]
    return HeadConfig(
        kind=kind,  # type: ignore[arg-type]
        hidden_dim=HIDDEN,
        fc1_relations=(relation,) * r[0],
        fc2_relations=(relation,) * r[1],
        res_blocks=r,
    )


def small_head(kind: str, geometry: str = "pairwise", r: tuple[int, int] = (1, 1)) -> BoxHead:
    """``build_head(small_config(kind, geometry, r), IN_CHANNELS, RESOLUTION)``."""
    return build_head(small_config(kind, geometry, r), IN_CHANNELS, RESOLUTION)


def random_boxes(*lead: int, generator: torch.Generator, scale: float = 100.0) -> Tensor:
    """Boxes ``(x1, y1, x2, y2)`` of positive size, ``[*lead, 4]``."""
    xy = torch.rand(*lead, 2, generator=generator) * scale
    wh = 1.0 + torch.rand(*lead, 2, generator=generator) * scale / 2
    return torch.cat([xy, xy + wh], dim=-1)


def random_features(*lead: int, generator: torch.Generator) -> Tensor:
    """Pooled RoI features ``[*lead, C, r, r]``."""
    return torch.randn(*lead, IN_CHANNELS, RESOLUTION, RESOLUTION, generator=generator)
