"""Pixels of one synthetic image: background, clutter, objects and noise (numpy and PIL only).

Shapes are rasterised into 2× masks whose 2 × 2 blocks give each pixel its coverage
(anti-aliasing, and boxes accurate to a quarter pixel). Plain shapes and anchors are translucent
with an opaque outline, so crowd members that overlap stay visible; tokens are opaque bullseyes
drawn from the token's geometry and colour only, never from its class.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from ._config import SyntheticConfig
from ._geometry import extents, shape_polygon
from ._scene import Scene, SceneObject, sample_color

SUPERSAMPLE = 2
FILL_ALPHA = 0.42
_FILL, _INK = 1, 2  # mask labels: translucent fill, opaque ink


def render_scene(rng: np.random.Generator, scene: Scene, config: SyntheticConfig) -> np.ndarray:
    """Draw ``scene``.

    Args:
        rng: the image's generator (background, clutter and noise draw from it).
        scene: the layout, objects in drawing order.
        config: ``clutter`` and ``noise_std`` are used.

    Returns:
        ``uint8`` array ``[H, W, 3]``.
    """
    canvas = _background(rng, scene.width, scene.height)  # [H, W, 3] float32
    clutter = int(rng.integers(config.clutter[0], config.clutter[1] + 1))
    on_top = rng.random(clutter) < 0.25
    for _ in range(int((~on_top).sum())):
        _draw_clutter(rng, canvas)
    for obj in scene.objects:
        _draw_object(canvas, obj)
    for _ in range(int(on_top.sum())):
        _draw_clutter(rng, canvas)
    sigma = config.noise_std * rng.uniform(0.5, 1.0)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(sigma)
    pixels: np.ndarray = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return pixels


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A linear gradient between two muted colours, light or dark."""
    low, high = (150, 235) if rng.random() < 0.6 else (25, 95)
    start = rng.uniform(low, high, size=3).astype(np.float32)
    end = np.clip(start + rng.uniform(-45, 45, size=3), 0, 255).astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    xs = np.arange(width, dtype=np.float32) * np.float32(math.cos(theta))  # [W]
    ys = np.arange(height, dtype=np.float32) * np.float32(math.sin(theta))  # [H]
    t = ys[:, None] + xs[None, :]  # [H, W]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    canvas: np.ndarray = start + t[..., None] * (end - start)  # [H, W, 3]
    return canvas


def _composite(
    canvas: np.ndarray, mask: Image.Image, x0: int, y0: int, color: np.ndarray, fill_alpha: float
) -> None:
    """Blend ``color`` into ``canvas`` with the coverage of a 2× ``mask`` placed at 2× ``(x0, y0)``.

    Mask pixels labelled _INK are opaque, _FILL ones ``fill_alpha``; every 2 × 2 block of the mask
    becomes one pixel's coverage (box-filter anti-aliasing). ``x0`` and ``y0`` are even.
    """
    s = SUPERSAMPLE
    bounds = mask.getbbox()
    if bounds is None:
        return
    left, top = bounds[0] // s * s, bounds[1] // s * s
    right, bottom = -(-bounds[2] // s) * s, -(-bounds[3] // s) * s
    labels = np.asarray(mask.crop((left, top, right, bottom)))  # [h, w] uint8, h and w even
    lut = np.array([0.0, fill_alpha / (s * s), 1.0 / (s * s)], dtype=np.float32)  # by mask label
    h, w = labels.shape
    alpha = lut[labels].reshape(h // s, s, w // s, s).sum(axis=(1, 3))[..., None]  # [h/s, w/s, 1]
    fx, fy = (x0 + left) // s, (y0 + top) // s
    region = canvas[fy : fy + h // s, fx : fx + w // s]  # [h/s, w/s, 3] view
    region += alpha * (color - region)


def _draw_object(canvas: np.ndarray, obj: SceneObject) -> None:
    s = SUPERSAMPLE
    height, width = canvas.shape[0] * s, canvas.shape[1] * s
    x0 = max((math.floor(obj.box[0] * s) - 2) // s * s, 0)
    y0 = max((math.floor(obj.box[1] * s) - 2) // s * s, 0)
    x1 = min(math.ceil(obj.box[2] * s) + 2, width)
    y1 = min(math.ceil(obj.box[3] * s) + 2, height)
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(mask)

    def to_mask(polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        # PIL fills mask pixels k whose span [k, k + 1) meets the polygon; shrinking the polygon's
        # extents by half a mask pixel per side turns that into "pixel centre inside the shape"
        x_lo, y_lo, x_hi, y_hi = extents(polygon)
        fx = max(1.0 - 1.0 / max((x_hi - x_lo) * s, 1.0), 0.0)
        fy = max(1.0 - 1.0 / max((y_hi - y_lo) * s, 1.0), 0.0)
        mx, my = 0.5 * (x_lo + x_hi), 0.5 * (y_lo + y_hi)
        return [
            ((obj.cx + mx + fx * (x - mx)) * s - x0, (obj.cy + my + fy * (y - my)) * s - y0)
            for x, y in polygon
        ]

    outline = shape_polygon(obj.shape, obj.w, obj.h, obj.angle)
    if obj.shape == "bullseye":
        draw.polygon(to_mask(outline), fill=_INK)
        draw.polygon(to_mask(shape_polygon("bullseye", obj.w * 0.62, obj.h * 0.62, 0.0)), fill=0)
        draw.polygon(to_mask(shape_polygon("bullseye", obj.w * 0.3, obj.h * 0.3, 0.0)), fill=_INK)
    else:
        draw.polygon(to_mask(outline), fill=_FILL, outline=_INK, width=3)
    _composite(canvas, mask, x0, y0, np.asarray(obj.color, dtype=np.float32), FILL_ALPHA)


def _draw_clutter(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """One unlabelled item: an arc, an open polyline, specks or a faint blob."""
    s = SUPERSAMPLE
    height, width = canvas.shape[0] * s, canvas.shape[1] * s
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    color = np.asarray(sample_color(rng), dtype=np.float32)
    kind = int(rng.integers(4))
    cx, cy = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
    alpha = float(rng.uniform(0.35, 0.8))
    if kind == 0:  # arc: part of an outline
        r = rng.uniform(10, 40) * s
        start = rng.uniform(0, 360)
        draw.arc(
            [cx - r, cy - r, cx + r, cy + r],
            start,
            start + rng.uniform(60, 220),
            fill=_FILL,
            width=int(rng.integers(1, 4)),
        )
    elif kind == 1:  # open polyline: part of a polygon
        points = [(cx, cy)]
        for _ in range(int(rng.integers(1, 4))):
            step = rng.uniform(12, 45) * s
            turn = rng.uniform(0, 2 * math.pi)
            points.append(
                (points[-1][0] + step * math.cos(turn), points[-1][1] + step * math.sin(turn))
            )
        draw.line(points, fill=_FILL, width=int(rng.integers(1, 4)))
    elif kind == 2:  # specks
        for _ in range(int(rng.integers(3, 12))):
            px, py = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.uniform(0.6, 1.6) * s
            draw.ellipse([px - r, py - r, px + r, py + r], fill=_FILL)
    else:  # a large faint blob
        rx, ry = rng.uniform(15, 50, size=2) * s
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_FILL)
        alpha = float(rng.uniform(0.1, 0.25))
    _composite(canvas, mask, 0, 0, color, alpha)
