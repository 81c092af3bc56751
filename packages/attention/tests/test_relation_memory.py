"""With gradients, nothing of size ``N x N`` is kept for backward (chunks are recomputed)."""

from __future__ import annotations

import subprocess
import sys

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


def test_recomputed_chunks_import_nothing_heavy() -> None:
    """torch.utils.checkpoint imports torch._dynamo on its first call (hundreds of modules, about
    100 MB resident in a fresh process); the chunks' recomputation must not."""
    code = (
        "import sys, torch\n"
        "from relnet_attention import RelationModule\n"
        "m = RelationModule(feat_dim=64, num_relations=4, key_dim=8, geo_dim=16, chunk_size=8)\n"
        "xy = torch.rand(30, 2) * 100\n"
        "boxes = torch.cat([xy, xy + 5 + torch.rand(30, 2) * 50], 1)\n"
        "f = torch.randn(30, 64, requires_grad=True)\n"
        "m(f, boxes).sum().backward()\n"
        "assert f.grad is not None and m.geo_proj.weight.grad is not None\n"
        "print(sorted(k for k in sys.modules if k.startswith('torch._dynamo')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
