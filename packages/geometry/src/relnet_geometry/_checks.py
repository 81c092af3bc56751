"""Validation shared by the public functions: errors that name the argument and the value.

The generic tensor check is :func:`relnet_core.checks.check_tensor`; the boxes' own (``[..., N,
4]``, the first non-finite *box* named by its index) are here. A non-tensor is a ``TypeError``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from relnet_core.checks import check_tensor


def check_boxes(name: str, boxes: Tensor) -> None:
    """Raise ``ValueError`` unless ``boxes`` is a finite floating tensor of shape ``[..., 4]``."""
    _check_layout(name, boxes)
    if _concrete() and not bool(torch.isfinite(boxes).all()):
        bad = (~torch.isfinite(boxes)).any(-1).nonzero()[0].tolist()
        raise ValueError(
            f"{name} holds NaN or inf, first at index {bad}: {boxes[tuple(bad)].tolist()}"
        )


def checked_abs_max(name: str, boxes: Tensor) -> float:
    """:func:`check_boxes` that also returns ``max |coordinate|`` (0 when empty or tracing), in
    one reduction and one synchronisation."""
    _check_layout(name, boxes)
    if not _concrete() or boxes.numel() == 0:
        return 0.0
    largest = float(boxes.detach().abs().amax())  # NaN if any is NaN, inf if any is inf
    if not math.isfinite(largest):
        check_boxes(name, boxes)  # raises, naming the first bad box
    return largest


def _check_layout(name: str, boxes: Tensor) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    check_tensor(name, boxes, finite=False)  # floating; finiteness is checked per box, above
    if boxes.dim() < 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., N, 4], got {tuple(boxes.shape)}")


def check_batch_dims(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise ``ValueError`` unless the leading dims of ``a [..., N, 4]`` and ``b [..., M, 4]``
    broadcast."""
    lead_a, lead_b = a.shape[:-2], b.shape[:-2]
    # right-aligned, as broadcasting does; the longer shape's extra dims always broadcast
    pairs = zip(reversed(lead_a), reversed(lead_b), strict=False)
    if any(x != y and 1 not in (x, y) for x, y in pairs):
        raise ValueError(
            f"{name_b} must have leading dims that broadcast with {name_a}'s "
            f"{tuple(a.shape[:-2])}, got {tuple(b.shape[:-2])} (shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)})"
        )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types (their range and precision are too small for logs and sines)."""
    return torch.promote_types(dtype, torch.float32)


def _concrete() -> bool:
    """False while tracing or exporting, where data-dependent checks cannot run."""
    # torch._C._is_tracing is what torch.jit.is_tracing returns outside TorchScript; it is typed.
    return not (torch._C._is_tracing() or torch.compiler.is_compiling())
