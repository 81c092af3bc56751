"""With gradients, nothing of size ``N x N`` is kept for backward (chunks are recomputed)."""

from __future__ import annotations

import pytest
import torch
from relation_reference import make_module, random_inputs


@pytest.mark.parametrize("geometry", ["pairwise", "none"])
def test_no_quadratic_tensor_is_saved_for_backward(geometry: str) -> None:
    n = 96
    module = make_module(geometry, 0, chunk_size=16, dtype=torch.float32)
    features, boxes = random_inputs(n, 0, dtype=torch.float32, lead=(2,))
    features.requires_grad_(True)
    largest = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(features, boxes)
    out.sum().backward()
    quadratic = 2 * n * n * 4  # one [B, N, N] float32 tensor, far below [B, Nr, N, N]
    assert 0 < largest < quadratic, largest
    assert features.grad is not None
    assert torch.isfinite(features.grad).all()
