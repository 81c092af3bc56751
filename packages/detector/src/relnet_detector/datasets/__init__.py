"""Datasets: COCO folders and the built-in synthetic relation benchmark."""

from .categories import CategoryMap
from .coco import CocoFolder, collate, eval_transforms, train_transforms
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
