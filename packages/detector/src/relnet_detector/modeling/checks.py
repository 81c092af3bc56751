"""The detector's argument checks (values torchvision would fail on later, with a message naming
the field) and the loading of a separately trained ``"learned"`` remover network."""

from __future__ import annotations

import torch
from torch import Tensor

from relnet_core.checks import check_int
from relnet_dedup import DuplicateRemovalNetwork, load_checkpoint

from ..config import ModelConfig, RemoverConfig
from .removers import check_model_remover

__all__ = ["check_images", "check_model_config", "load_learned"]


def check_images(images: object) -> None:
    """Raise ``ValueError`` unless ``images`` is a list of floating ``[3, H, W]`` tensors."""
    if not isinstance(images, list | tuple):
        raise ValueError(f"images must be a list of [3, H, W] tensors, got {type(images).__name__}")
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or not img.is_floating_point() or img.dim() != 3:
            what = (
                f"dtype {img.dtype} and shape {tuple(img.shape)}"
                if isinstance(img, Tensor)
                else type(img).__name__
            )
            raise ValueError(f"images[{i}] must be a floating [3, H, W] tensor, got {what}")


def check_model_config(config: ModelConfig) -> None:
    """Raise ``ValueError`` naming the field for values torchvision would fail on later."""
    for name in ("min_size", "max_size"):
        check_int(f"model.{name}", getattr(config, name), low=1)
    if config.max_size < config.min_size:
        raise ValueError(f"model.max_size {config.max_size} is below min_size {config.min_size}")
    if not config.rpn.anchor_sizes or not config.rpn.aspect_ratios:
        raise ValueError("rpn.anchor_sizes and rpn.aspect_ratios must not be empty")
    if any(r <= 0 for r in config.rpn.aspect_ratios) or any(
        s <= 0 for s in config.rpn.anchor_sizes
    ):
        raise ValueError(
            f"rpn.anchor_sizes and rpn.aspect_ratios must be positive, got "
            f"{list(config.rpn.anchor_sizes)} and {list(config.rpn.aspect_ratios)}"
        )
    for name in ("batch_size_per_image", "pool_size"):
        check_int(f"roi.{name}", getattr(config.roi, name), low=1)
    check_int("roi.sampling_ratio", config.roi.sampling_ratio)  # <= 0: adaptive (torchvision)
    check_model_remover(config.remover)


def load_learned(
    remover: RemoverConfig, feat_dim: int, device: torch.device | None = None
) -> DuplicateRemovalNetwork:
    """The network of ``remover.checkpoint`` (a relnet-dedup checkpoint) on ``device``, checked
    against the head's feature size ``feat_dim``."""
    if not remover.checkpoint:
        raise ValueError("remover 'learned' needs remover.checkpoint: a relnet-dedup checkpoint")
    network = load_checkpoint(remover.checkpoint, map_location=device)
    config = network.config
    if config.use_appearance and config.feat_dim != feat_dim:
        raise ValueError(
            f"remover.checkpoint {remover.checkpoint}: the network takes {config.feat_dim}-d "
            f"appearance features, the head gives {feat_dim}-d"
        )
    return network
