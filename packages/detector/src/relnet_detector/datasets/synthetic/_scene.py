"""The objects of one synthetic image (:class:`SceneObject`, :class:`Scene`) and their colours.

Boxes are ``(x1, y1, x2, y2)`` floats in continuous pixel coordinates of the written image. Where
they go is :mod:`._placement`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._geometry import Box

__all__ = ["PALETTE", "Scene", "SceneObject", "sample_color"]


@dataclass(frozen=True)
class SceneObject:
    """One labelled object.

    Attributes:
        category_id: COCO class id.
        shape: what is drawn (:data:`~._synth_config.Category.shape`).
        cx: centre x.
        cy: centre y.
        w: width of the unrotated shape.
        h: height of the unrotated shape.
        angle: rotation in radians.
        color: RGB fill colour, from the one palette shared by all classes.
        box: tight ``(x1, y1, x2, y2)`` box, rounded outwards to 0.01 px.
        group: index of its crowd group within the image, or None.
        anchor: index (in the scene's list) of the anchor that decides a token's class, or None.
    """

    category_id: int
    shape: str
    cx: float
    cy: float
    w: float
    h: float
    angle: float
    color: tuple[int, int, int]
    box: Box
    group: int | None = None
    anchor: int | None = None


@dataclass(frozen=True)
class Scene:
    """The objects of one image, in drawing order."""

    width: int
    height: int
    objects: tuple[SceneObject, ...]


PALETTE = np.array(
    [
        (230, 60, 50),
        (245, 150, 30),
        (235, 215, 40),
        (70, 180, 70),
        (40, 170, 190),
        (50, 90, 220),
        (150, 70, 210),
        (225, 80, 170),
        (140, 100, 60),
    ],
    dtype=np.int64,
)
"""The one palette of every class (and of the clutter): colour says nothing about the class."""


def sample_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A palette colour with per-instance jitter of up to ±20 per channel."""
    u = rng.random(4)
    base = PALETTE[int(u[0] * len(PALETTE))] + np.floor(u[1:] * 41).astype(np.int64) - 20
    r, g, b = (int(v) for v in np.clip(base, 0, 255))
    return (r, g, b)
