"""Shape outlines and box arithmetic of the synthetic benchmark (plain Python, no torch).

Boxes are ``(x1, y1, x2, y2)`` floats in continuous pixel coordinates (torchvision's convention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Box = tuple[float, float, float, float]
Polygon = list[tuple[float, float]]

_ROUND = 48  # vertices of an ellipse outline


def shape_polygon(shape: str, w: float, h: float, angle: float) -> Polygon:
    """Outline of ``shape`` of frame size ``w`` × ``h``, rotated by ``angle``, centred on 0.

    Ellipses and bullseyes are axis-aligned and ignore ``angle``.

    Args:
        shape: one of ``ellipse``, ``bullseye``, ``rectangle``, ``triangle``, ``cross``, ``star``,
            ``hexagon``.
        w: width before rotation, pixels.
        h: height before rotation, pixels.
        angle: rotation, radians.

    Returns:
        The vertices ``[(x, y), ...]``, relative to the centre.
    """
    if shape in ("ellipse", "bullseye"):
        steps = [2 * math.pi * k / _ROUND for k in range(_ROUND)]
        return [(0.5 * w * math.cos(t), 0.5 * h * math.sin(t)) for t in steps]
    unit: list[tuple[float, float]]
    if shape == "rectangle":
        unit = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == "triangle":
        unit = [(0, -1), (1, 1), (-1, 1)]
    elif shape == "cross":
        t = 0.34
        unit = [
            (-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t),
            (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t),
        ]  # fmt: skip
    elif shape == "star":
        radii = [1.0 if k % 2 == 0 else 0.45 for k in range(10)]
        unit = [
            (r * math.sin(math.pi * k / 5), -r * math.cos(math.pi * k / 5))
            for k, r in enumerate(radii)
        ]
    elif shape == "hexagon":
        unit = [(math.cos(math.pi * k / 3), math.sin(math.pi * k / 3)) for k in range(6)]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    c, s = math.cos(angle), math.sin(angle)
    scaled = [(0.5 * w * x, 0.5 * h * y) for x, y in unit]
    return [(c * x - s * y, s * x + c * y) for x, y in scaled]


def extents(polygon: Sequence[tuple[float, float]]) -> Box:
    """The ``(x1, y1, x2, y2)`` bounds of ``polygon``."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def shape_extents(shape: str, w: float, h: float, angle: float) -> Box:
    """Bounds of :func:`shape_polygon` relative to the centre (exact for ellipses)."""
    if shape in ("ellipse", "bullseye"):
        return (-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h)
    return extents(shape_polygon(shape, w, h, angle))


def area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def intersection(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def edge_gap(a: Box, b: Box) -> float:
    """Euclidean distance between the closest points of two boxes (0 when they touch or overlap)."""
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, dy)


def inside(box: Box, width: int, height: int) -> bool:
    """Whether ``box`` lies wholly inside a ``width`` × ``height`` image."""
    return box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height


def overlap_ok(box: Box, others: Sequence[Box], max_cover: float) -> bool:
    """Whether ``box`` and each of ``others`` cover at most ``max_cover`` of the smaller box."""
    own = area(box)
    for other in others:
        inter = intersection(box, other)
        if inter > max_cover * min(own, area(other)):
            return False
    return True
