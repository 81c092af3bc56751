"""The precision contract (DESIGN.md): in float32, no further from a float64 evaluation of the
direct (authors') form than the direct float32 form is, plus 1e-5.

The float64 evaluation takes the same float32 inputs and weights, converted exactly, so the errors
measured are those of the computation. The geometry embedding takes sines of angles in the hundreds
of radians, so the direct float32 form is itself off by about 1e-3 with the pairwise geometry.
"""

from __future__ import annotations

import copy

import pytest
import torch
from relation_reference import authors_relation

from relnet_attention import RelationModule

SLACK = 1e-5


def paper_sized(geometry: str, seed: int) -> tuple[RelationModule, torch.Tensor, torch.Tensor]:
    """The paper's N_r, d_k, d_g (d_f 256), weights of std 0.05, 80 boxes in pixels, float32."""
    torch.manual_seed(seed)
    module = RelationModule(feat_dim=256, geometry=geometry, chunk_size=32)  # several chunks
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, 0.05)
    xy = torch.rand(80, 2) * 800
    boxes = torch.cat([xy, xy + 1 + torch.rand(80, 2) * 200], dim=1)  # [80, 4]
    return module, torch.randn(80, 256), boxes


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("geometry", ["pairwise", "none", "unary"])
def test_float32_error_is_the_direct_forms(seed: int, geometry: str) -> None:
    module, features, boxes = paper_sized(geometry, seed)
    with torch.no_grad():
        truth, _ = authors_relation(
            copy.deepcopy(module).double(), features.double(), boxes.double()
        )
        direct, _ = authors_relation(module, features, boxes)
        outputs = {"forward": module(features, boxes)}
        if geometry != "unary":
            logits = module.appearance_logits(module.query(features), module.key(features))
            attended = module.attend(features[None], module.value(features), logits, boxes[None])
            outputs["attend"] = attended[0]
    direct_error = (direct.double() - truth).abs().max().item()
    assert (truth - features.double()).abs().max() > 1e-2  # the relation features matter
    for name, out in outputs.items():
        assert out.dtype == torch.float32
        error = (out.double() - truth).abs().max().item()
        assert error <= direct_error + SLACK, (name, error, direct_error)
