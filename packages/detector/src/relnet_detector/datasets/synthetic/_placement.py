"""Placement of one synthetic image's objects: which, where, and which class the context gives
them.

Boxes are ``(x1, y1, x2, y2)`` floats in continuous pixel coordinates of the written image. Every
labelled object lies wholly inside the image. The rules (README, "The built-in benchmark"):

- anchors: 0-2 large stars or hexagons; with two, usually one of each type;
- tokens: identical bullseyes around the anchors, at an edge gap of ``context_min_gap`` to
  ``context_max_gap`` from their own anchor and at least ``context_min_gap`` from every anchor; the
  class is the type of the nearest anchor (by edge gap, with ``context_margin`` to spare, and also
  nearest by centre distance);
- plain shapes: singles, or crowd groups of 2-3 same-class shapes at pairwise IoU in ``crowd_iou``;
  any other pair overlaps by at most ``max_occlusion`` of the smaller box.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._config import (
    ANCHOR_CLASSES,
    CATEGORY_BY_ID,
    SHAPE_CLASSES,
    TOKEN_OF_ANCHOR,
    SyntheticConfig,
)
from ._geometry import (
    box_iou,
    edge_gap,
    inside,
    overlap_ok,
    shape_extents,
)
from ._scene import Scene, SceneObject, sample_color

__all__ = ["sample_scene"]

TOKEN_DIAMETER = (11.0, 17.0)
ANCHOR_SIZE = (36.0, 54.0)
SHAPE_SIZE = (14.0, 38.0)
_TRIES = 60


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


class _Builder:
    """Places objects one by one under the overlap rules."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, config: SyntheticConfig):
        self.rng, self.width, self.height, self.config = rng, width, height, config
        self.objects: list[SceneObject] = []
        self.groups = 0

    def make(
        self, category_id: int, w: float, h: float, angle: float, cx: float, cy: float
    ) -> SceneObject:
        """The object at ``(cx, cy)`` with its tight box; its colour is drawn on acceptance."""
        shape = CATEGORY_BY_ID[category_id].shape
        x0, y0, x1, y1 = shape_extents(shape, w, h, angle)
        box = (
            math.floor((cx + x0) * 100) / 100,
            math.floor((cy + y0) * 100) / 100,
            math.ceil((cx + x1) * 100) / 100,
            math.ceil((cy + y1) * 100) / 100,
        )
        return SceneObject(category_id, shape, cx, cy, w, h, angle, (0, 0, 0), box)

    def accept(self, obj: SceneObject) -> SceneObject:
        return replace(obj, color=sample_color(self.rng))

    def random_center(self, shape: str, w: float, h: float, angle: float) -> tuple[float, float]:
        x0, y0, x1, y1 = shape_extents(shape, w, h, angle)
        cx = self.rng.uniform(-x0 + 0.5, self.width - x1 - 0.5)
        cy = self.rng.uniform(-y0 + 0.5, self.height - y1 - 0.5)
        return float(cx), float(cy)

    def fits(self, obj: SceneObject, ignore: frozenset[int] = frozenset()) -> bool:
        if not inside(obj.box, self.width, self.height):
            return False
        others = [o.box for i, o in enumerate(self.objects) if i not in ignore]
        return overlap_ok(obj.box, others, self.config.max_occlusion)

    def add_anchor(self, category_id: int) -> bool:
        for _ in range(_TRIES):
            size = self.rng.uniform(*ANCHOR_SIZE)
            aspect = _log_uniform(self.rng, 0.8, 1.25)
            w, h, angle = (
                size * math.sqrt(aspect),
                size / math.sqrt(aspect),
                self.rng.uniform(0, 2 * math.pi),
            )
            shape = CATEGORY_BY_ID[category_id].shape
            obj = self.make(category_id, w, h, angle, *self.random_center(shape, w, h, angle))
            anchors = [
                o.box for o in self.objects if CATEGORY_BY_ID[o.category_id].role == "anchor"
            ]
            far = all(edge_gap(obj.box, a) >= self.config.context_min_gap for a in anchors)
            if far and self.fits(obj):
                self.objects.append(self.accept(obj))
                return True
        return False

    def add_token(self, own: int) -> bool:
        """Place a token around anchor ``own`` (index into ``objects``) under the context rule."""
        cfg = self.config
        anchors = [
            i for i, o in enumerate(self.objects) if CATEGORY_BY_ID[o.category_id].role == "anchor"
        ]
        ax1, ay1, ax2, ay2 = self.objects[own].box
        d = self.rng.uniform(*TOKEN_DIAMETER)
        reach = cfg.context_max_gap + d
        for _ in range(_TRIES):
            cx = float(self.rng.uniform(ax1 - reach, ax2 + reach))
            cy = float(self.rng.uniform(ay1 - reach, ay2 + reach))
            obj = self.make(17, d, d, 0.0, cx, cy)
            gaps = {i: edge_gap(obj.box, self.objects[i].box) for i in anchors}
            if not cfg.context_min_gap <= gaps[own] <= cfg.context_max_gap:
                continue
            if any(g < gaps[own] + cfg.context_margin for i, g in gaps.items() if i != own):
                continue
            centre = {
                i: math.hypot(cx - self.objects[i].cx, cy - self.objects[i].cy) for i in anchors
            }
            if min(centre, key=centre.__getitem__) != own or not self.fits(obj):
                continue
            label = TOKEN_OF_ANCHOR[self.objects[own].category_id]
            self.objects.append(replace(self.accept(obj), category_id=label, anchor=own))
            return True
        return False

    def add_single(self, category_id: int) -> bool:
        shape = CATEGORY_BY_ID[category_id].shape
        for _ in range(_TRIES):
            w, h, angle = self._shape_size(shape)
            obj = self.make(category_id, w, h, angle, *self.random_center(shape, w, h, angle))
            if self.fits(obj):
                self.objects.append(self.accept(obj))
                return True
        return False

    def add_group(self, category_id: int, size: int) -> bool:
        """A crowd group: ``size`` same-class shapes, every pair at IoU within ``crowd_iou``."""
        shape = CATEGORY_BY_ID[category_id].shape
        low, high = self.config.crowd_iou
        for _ in range(_TRIES // 4):
            w, h, angle = self._shape_size(shape)
            first = self.make(category_id, w, h, angle, *self.random_center(shape, w, h, angle))
            if not self.fits(first):
                continue
            members = [first]
            for _ in range(_TRIES):
                if len(members) == size:
                    break
                mw, mh = w * self.rng.uniform(0.92, 1.08), h * self.rng.uniform(0.92, 1.08)
                mangle = angle + self.rng.uniform(-0.35, 0.35)
                target = self.rng.uniform(low + 0.01, high - 0.01)
                theta = self.rng.uniform(0, 2 * math.pi)
                base = members[int(self.rng.integers(len(members)))]
                obj = self._at_iou(category_id, mw, mh, mangle, base, theta, target)
                if obj is None or not self.fits(obj):
                    continue
                if all(low <= box_iou(obj.box, m.box) <= high for m in members):
                    members.append(obj)
            if len(members) == size:
                group = self.groups
                self.groups += 1
                self.objects.extend(replace(self.accept(m), group=group) for m in members)
                return True
        return False

    def _shape_size(self, shape: str) -> tuple[float, float, float]:
        size = _log_uniform(self.rng, *SHAPE_SIZE)
        aspect = _log_uniform(self.rng, 0.6, 1.6)
        spin = {"ellipse": 0.0, "rectangle": math.radians(20)}.get(shape, math.pi)
        angle = self.rng.uniform(-spin, spin) if spin else 0.0
        return size * math.sqrt(aspect), size / math.sqrt(aspect), float(angle)

    def _at_iou(
        self,
        category_id: int,
        w: float,
        h: float,
        angle: float,
        base: SceneObject,
        theta: float,
        target: float,
    ) -> SceneObject | None:
        """The shape offset from ``base`` along ``theta`` at box IoU ``target`` with ``base``."""

        def at(t: float) -> SceneObject:
            return self.make(
                category_id,
                w,
                h,
                angle,
                base.cx + t * math.cos(theta),
                base.cy + t * math.sin(theta),
            )

        if box_iou(at(0.0).box, base.box) < target:
            return None
        near, far = 0.0, 2.0 * (w + h)
        for _ in range(24):
            mid = 0.5 * (near + far)
            near, far = (mid, far) if box_iou(at(mid).box, base.box) > target else (near, mid)
        return at(near)


def sample_scene(
    rng: np.random.Generator, width: int, height: int, config: SyntheticConfig
) -> Scene:
    """Draw the layout of one image (an empty one with probability ``config.empty_fraction``)."""
    if rng.random() < config.empty_fraction:
        return Scene(width, height, ())
    best: list[SceneObject] = []
    for _ in range(8):
        objects = _try_scene(rng, width, height, config)
        if len(objects) >= config.min_objects:
            best = objects
            break
        best = objects if len(objects) > len(best) else best
    order = rng.permutation(len(best))  # drawing order: who occludes whom
    index = {int(old): new for new, old in enumerate(order)}
    drawn = [best[int(i)] for i in order]
    drawn = [o if o.anchor is None else replace(o, anchor=index[o.anchor]) for o in drawn]
    return Scene(width, height, tuple(drawn))


def _try_scene(
    rng: np.random.Generator, width: int, height: int, config: SyntheticConfig
) -> list[SceneObject]:
    builder = _Builder(rng, width, height, config)
    target = int(rng.integers(config.min_objects, config.max_objects + 1))
    anchor_ids = [c.id for c in ANCHOR_CLASSES]
    if target >= 3 and rng.random() < 0.85:  # room for an anchor, a token and a plain shape
        draw = rng.random()
        if draw < config.mixed_anchor_fraction:
            kinds = [int(i) for i in rng.permutation(anchor_ids)]
        elif draw < config.mixed_anchor_fraction + 0.7 * (1 - config.mixed_anchor_fraction):
            kinds = [int(rng.choice(anchor_ids))]
        else:
            kinds = [int(rng.choice(anchor_ids))] * 2
        for kind in kinds[: (target - 1) // 2]:
            builder.add_anchor(kind)
        anchors = list(range(len(builder.objects)))
        budget = target - len(anchors) - 1
        for own in anchors:
            for _ in range(min(int(rng.integers(1, 4)), budget)):
                budget -= int(builder.add_token(own))
    theme = rng.choice([c.id for c in SHAPE_CLASSES], size=2, replace=False)
    p_group = _group_start_probability(config.crowd_fraction)
    misses = 0
    while len(builder.objects) < target and misses < 6:
        category_id = int(
            rng.choice(theme) if rng.random() < 0.75 else rng.choice([c.id for c in SHAPE_CLASSES])
        )
        room = target - len(builder.objects)
        placed = False
        if room >= 2 and rng.random() < p_group:
            size = 3 if room >= 3 and rng.random() < 0.4 else 2
            placed = builder.add_group(category_id, size)
        placed = placed or builder.add_single(category_id)
        misses += not placed
    return builder.objects


def _group_start_probability(fraction: float) -> float:
    """Chance that a new plain object starts a group so that ``fraction`` of objects are in groups.

    Groups have about 2.4 members: ``p 2.4 / (p 2.4 + 1 - p) = fraction``; the factor 1.35
    (measured) makes up for the last slot of an image, which only a single shape fits.
    """
    return min(1.0, 1.35 * fraction / (2.4 - 1.4 * fraction))
