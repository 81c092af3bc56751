"""Configuration and class table of the built-in synthetic relation benchmark.

The classes and the rules that make relations matter are described in the package README
("The built-in benchmark") and in :mod:`relnet_detector.datasets.synthetic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

Kind = Literal["context", "plain"]
Role = Literal["anchor", "token", "shape"]


@dataclass(frozen=True)
class Category:
    """One class of the benchmark.

    Attributes:
        id: COCO category id (deliberately non-contiguous and not starting at 1).
        name: COCO category name.
        kind: ``"context"`` (only the neighbours decide the class) or ``"plain"`` (appearance does).
        role: ``"anchor"`` (large shape that gives nearby tokens their class), ``"token"`` (the
            context classes) or ``"shape"`` (plain shapes, half of them in crowds).
        shape: what is drawn; both token classes draw the same ``"bullseye"``.
    """

    id: int
    name: str
    kind: Kind
    role: Role
    shape: str


CATEGORIES: tuple[Category, ...] = (
    Category(2, "ellipse", "plain", "shape", "ellipse"),
    Category(3, "rectangle", "plain", "shape", "rectangle"),
    Category(5, "triangle", "plain", "shape", "triangle"),
    Category(7, "cross", "plain", "shape", "cross"),
    Category(11, "star", "plain", "anchor", "star"),
    Category(13, "hexagon", "plain", "anchor", "hexagon"),
    Category(17, "star_token", "context", "token", "bullseye"),
    Category(19, "hexagon_token", "context", "token", "bullseye"),
)
"""The eight classes, in id order."""

CATEGORY_BY_ID: dict[int, Category] = {c.id: c for c in CATEGORIES}
SHAPE_CLASSES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.role == "shape")
ANCHOR_CLASSES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.role == "anchor")
TOKEN_OF_ANCHOR: dict[int, int] = {11: 17, 13: 19}
"""Token class id taken by a token whose nearest anchor has the key's class id."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of :func:`~relnet_detector.datasets.synthetic.generate_synthetic`.

    Sizes are in pixels of the written image; ranges are inclusive ``(low, high)``. The defaults
    are the built-in benchmark; change them to build diagnostic variants (e.g. ``context_min_gap=4``
    puts the deciding anchor inside the receptive field of the tokens' RoI features).

    Attributes:
        seed: the whole set is a function of this seed (and of the other fields).
        train: number of training images.
        val: number of validation images.
        min_size: smallest image side; width and height are drawn independently.
        max_size: largest image side.
        min_objects: fewest labelled objects in a non-empty image (best effort: an image too
            small for them holds as many as fit).
        max_objects: most labelled objects in an image.
        empty_fraction: fraction of images with no labelled object (background and clutter only).
        context_min_gap: least edge gap (box-to-box distance) between a token and every anchor.
            The receptive-field rule: the anchor that decides a token's class lies farther away
            than the tiny backbone's RoI features see (README, "receptive field").
        context_max_gap: largest edge gap between a token and the anchor it belongs to.
        context_margin: least extra edge gap (pixels) of the second-nearest anchor over the
            nearest one, so that "the nearest anchor" is never ambiguous.
        mixed_anchor_fraction: fraction of images with anchors that hold one anchor of each type,
            where only the per-object rule (not a per-image cue) tells the tokens apart.
        crowd_fraction: fraction of the plain shapes that belong to crowd groups of 2-3.
        crowd_iou: IoU range of every pair inside a crowd group.
        max_occlusion: largest fraction of the smaller box that an object outside its crowd group
            may cover; it bounds any non-crowd pair's IoU by ``c / (2 - c)``.
        clutter: range of unlabelled clutter items (arcs, polylines, specks, blobs) per image.
        noise_std: largest per-image standard deviation of the pixel noise (0-255 scale).
    """

    seed: int = 0
    train: int = 2000
    val: int = 500
    min_size: int = 128
    max_size: int = 160
    min_objects: int = 5
    max_objects: int = 12
    empty_fraction: float = 0.04
    context_min_gap: float = 22.0
    context_max_gap: float = 44.0
    context_margin: float = 10.0
    mixed_anchor_fraction: float = 0.65
    crowd_fraction: float = 0.5
    crowd_iou: tuple[float, float] = (0.4, 0.7)
    max_occlusion: float = 0.4
    clutter: tuple[int, int] = (2, 6)
    noise_std: float = 6.0

    def __post_init__(self) -> None:
        for f in fields(self):  # TOML and JSON give lists where tuples are meant
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        _validate(self)


def _fail(name: str, value: object, requirement: str) -> ValueError:
    return ValueError(f"SyntheticConfig.{name} must be {requirement}, got {value!r}")


def _check_int(config: SyntheticConfig, name: str, low: int, high: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(name, value, f"an integer in [{low}, {high}]")


def _check_float(config: SyntheticConfig, name: str, low: float, high: float) -> None:
    value = getattr(config, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise _fail(name, value, f"a number in [{low}, {high}]")


def _check_range(config: SyntheticConfig, name: str, kind: type, low: float, high: float) -> None:
    value = getattr(config, name)
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        or not low <= value[0] <= value[1] <= high
    ):
        raise _fail(name, value, f"a pair (low, high) with {low} <= low <= high <= {high}")


def _validate(config: SyntheticConfig) -> None:
    _check_int(config, "seed", 0, 2**63 - 1)
    _check_int(config, "train", 0, 10_000_000)
    _check_int(config, "val", 0, 10_000_000)
    _check_int(config, "min_size", 112, 4096)
    _check_int(config, "max_size", config.min_size, 4096)
    _check_int(config, "min_objects", 1, 30)
    _check_int(config, "max_objects", config.min_objects, 30)
    _check_float(config, "empty_fraction", 0.0, 1.0)
    _check_float(config, "context_min_gap", 0.0, 64.0)
    _check_float(config, "context_max_gap", config.context_min_gap + 4.0, 128.0)
    _check_float(config, "context_margin", 0.0, 64.0)
    _check_float(config, "mixed_anchor_fraction", 0.0, 1.0)
    _check_float(config, "crowd_fraction", 0.0, 1.0)
    _check_range(config, "crowd_iou", float, 0.2, 0.85)
    if config.crowd_iou[1] - config.crowd_iou[0] < 0.05:
        raise _fail("crowd_iou", config.crowd_iou, "a range at least 0.05 wide")
    _check_float(config, "max_occlusion", 0.0, 0.9)
    if config.max_occlusion / (2.0 - config.max_occlusion) >= config.crowd_iou[0]:
        raise _fail(
            "max_occlusion",
            config.max_occlusion,
            f"small enough that c / (2 - c) < crowd_iou[0] = {config.crowd_iou[0]}",
        )
    _check_range(config, "clutter", int, 0, 50)
    _check_float(config, "noise_std", 0.0, 64.0)
