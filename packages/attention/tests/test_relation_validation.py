"""Bad input raises ValueError naming the argument and the offending shape or value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from relation_reference import make_module, random_inputs

from relnet_attention import RelationModule

MODULE = make_module("pairwise", 0, dtype=torch.float32)
FEATURES, BOXES = random_inputs(5, 0, dtype=torch.float32)
MASK = torch.ones(5, dtype=torch.bool)


def with_nan(value: float) -> torch.Tensor:
    boxes = BOXES.clone()
    boxes[3, 1] = value
    return boxes


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: MODULE(FEATURES.long(), BOXES), r"features must be a floating tensor.*int64"),
        (
            lambda: MODULE(FEATURES[:, :16], BOXES),
            r"features must have shape \[\.\.\., N, 32\].*\(5, 16\)",
        ),
        (
            lambda: MODULE(FEATURES[0], BOXES[0]),
            r"features must have shape \[\.\.\., N, 32\].*\(32,\)",
        ),
        (lambda: MODULE(FEATURES, BOXES.long()), r"boxes must be a floating tensor.*int64"),
        (lambda: MODULE(FEATURES, BOXES[:4]), r"boxes must have shape \(5, 4\).*got \(4, 4\)"),
        (lambda: MODULE(FEATURES, BOXES[:, :3]), r"boxes must have shape \(5, 4\).*got \(5, 3\)"),
        (lambda: MODULE(FEATURES[None], BOXES), r"boxes must have shape \(1, 5, 4\).*got \(5, 4\)"),
        (lambda: MODULE(FEATURES, with_nan(float("nan"))), r"boxes holds NaN or inf.*\[3\].*nan"),
        (lambda: MODULE(FEATURES, with_nan(float("inf"))), r"boxes holds NaN or inf.*\[3\].*inf"),
        (lambda: MODULE(FEATURES, BOXES, MASK.long()), r"key_mask must be a bool tensor.*int64"),
        (lambda: MODULE(FEATURES, BOXES, MASK.float()), r"key_mask must be a bool tensor.*float32"),
        (lambda: MODULE(FEATURES, BOXES, MASK[:4]), r"key_mask must have shape \(5,\).*got \(4,\)"),
        (lambda: MODULE(FEATURES, BOXES, MASK[None]), r"key_mask must have shape \(5,\).*\(1, 5\)"),
        (lambda: MODULE(FEATURES, BOXES.tolist()), r"boxes must be a floating tensor, got list"),
        # issue 10's unclear error: another dtype than the weights failed inside nn.Linear
        (
            lambda: MODULE(FEATURES.double(), BOXES),
            r"features must have the dtype of the module's weights, torch.float32, got "
            r"torch.float64: convert one of them",
        ),
        (lambda: MODULE(FEATURES.half(), BOXES), r"weights, torch.float32, got torch.float16"),
    ],
)
def test_bad_forward_input(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"geometry": "relative"}, r"geometry must be one of .*'relative'"),
        ({"feat_dim": 0}, r"feat_dim must be a positive int, got 0"),
        ({"num_relations": 2.0}, r"num_relations must be a positive int, got 2.0"),
        ({"key_dim": -1}, r"key_dim must be a positive int, got -1"),
        ({"chunk_size": 0}, r"chunk_size must be a positive int, got 0"),
        (
            {"feat_dim": 30, "num_relations": 4},
            r"feat_dim \(30\) must be divisible by num_relations",
        ),
        ({"geo_dim": 12}, r"geo_dim must be divisible by 8, got 12"),
        ({"feat_dim": 36, "num_relations": 4, "geometry": "unary"}, r"feat_dim must be .* 8 .* 36"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"feat_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}
    with pytest.raises(ValueError, match=match):
        RelationModule(**{**base, **kwargs})  # type: ignore[arg-type]


def test_geo_dim_is_free_without_pairwise_geometry() -> None:
    module = RelationModule(feat_dim=32, num_relations=4, key_dim=8, geo_dim=12, geometry="none")
    assert module(FEATURES, BOXES).shape == (5, 32)


def test_other_dtypes_are_fine_under_autocast_and_for_boxes() -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert MODULE(FEATURES.bfloat16(), BOXES).shape == (5, 32)
    assert MODULE(FEATURES, BOXES.double()).dtype == torch.float32
