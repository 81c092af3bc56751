"""Validation shared by the public functions: errors that name the argument and the value."""

from __future__ import annotations

import torch
from torch import Tensor


def check_boxes(name: str, boxes: Tensor) -> None:
    """Raise ``ValueError`` unless ``boxes`` is a finite floating tensor of shape ``[..., 4]``."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    if not boxes.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {boxes.dtype}")
    if boxes.dim() < 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., N, 4], got {tuple(boxes.shape)}")
    if _concrete() and not bool(torch.isfinite(boxes).all()):
        bad = (~torch.isfinite(boxes)).any(-1).nonzero()[0].tolist()
        raise ValueError(
            f"{name} holds NaN or inf, first at index {bad}: {boxes[tuple(bad)].tolist()}"
        )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types (their range and precision are too small for logs and sines)."""
    return torch.promote_types(dtype, torch.float32)


def _concrete() -> bool:
    """False while tracing or exporting, where data-dependent checks cannot run."""
    # torch._C._is_tracing is what torch.jit.is_tracing returns outside TorchScript; it is typed.
    return not (torch._C._is_tracing() or torch.compiler.is_compiling())
