"""ONNX export: onnxruntime equals eager at two group sizes, with and without appearance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from relnet_dedup import DedupConfig, build_dedup_network, export_onnx
from relnet_dedup.export import example_inputs

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}


@pytest.mark.parametrize("use_appearance", [False, True])
def test_onnxruntime_matches_eager_at_two_sizes(tmp_path: Path, use_appearance: bool) -> None:
    torch.manual_seed(0)
    model = build_dedup_network(DedupConfig(feat_dim=12, use_appearance=use_appearance, **SMALL))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.eval()
    path = export_onnx(model, tmp_path / "dedup.onnx", example_groups=2, example_size=8)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["boxes", "scores", "valid"] + (["features"] if use_appearance else [])
    for groups, size in [(3, 5), (2, 37)]:
        inputs = example_inputs(model, groups, size, seed=size)
        with torch.no_grad():
            expected = model(*inputs)  # [G, N, T]
        (got,) = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})
        assert got.shape == (groups, size, 5)
        valid = inputs[2]
        torch.testing.assert_close(
            torch.from_numpy(got)[valid], expected[valid], rtol=1e-4, atol=1e-4
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dedup.onnx"]


def test_export_to_missing_directory(tmp_path: Path) -> None:
    model = build_dedup_network(DedupConfig(use_appearance=False, **SMALL))
    with pytest.raises(ValueError, match="does not exist"):
        export_onnx(model, tmp_path / "missing" / "dedup.onnx")
