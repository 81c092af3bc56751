"""Datasets: COCO folders and the built-in synthetic relation benchmark."""

from .synthetic import (
    SyntheticConfig,
    default_data_dir,
    draw_samples,
    ensure_synthetic,
    generate_synthetic,
)

__all__ = [
    "SyntheticConfig",
    "default_data_dir",
    "draw_samples",
    "ensure_synthetic",
    "generate_synthetic",
]
