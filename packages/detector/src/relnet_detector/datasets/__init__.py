"""Datasets: COCO folders (:mod:`~relnet_detector.datasets.coco`) and the built-in synthetic
relation benchmark (:mod:`~relnet_detector.datasets.synthetic`)."""

import importlib
from typing import Any

from .coco import CategoryMap, CocoFolder, collate, eval_transforms, train_transforms
from .synthetic import (
    SyntheticConfig,
    default_data_dir,
    draw_samples,
    ensure_synthetic,
    generate_synthetic,
)

__all__ = [
    "CategoryMap",
    "CocoFolder",
    "SyntheticConfig",
    "collate",
    "default_data_dir",
    "draw_samples",
    "ensure_synthetic",
    "eval_transforms",
    "generate_synthetic",
    "train_transforms",
]


_MOVED = {"categories": "coco.categories", "coco_file": "coco.annotations", "images": "coco.images"}


def __getattr__(name: str) -> Any:
    """``relnet_detector.datasets.categories``, ``.coco_file`` and ``.images``, deprecated: they
    moved into :mod:`relnet_detector.datasets.coco` (importing them warns once)."""
    if name in _MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
