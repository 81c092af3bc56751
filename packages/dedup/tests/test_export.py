"""ONNX export: onnxruntime equals eager at two group sizes, with and without appearance."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from relnet_dedup import DedupConfig, DuplicateRemovalNetwork, build_dedup_network, export_onnx
from relnet_dedup.io.export import example_inputs

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


def random_model(geometry: str, use_appearance: bool) -> DuplicateRemovalNetwork:
    torch.manual_seed(1)
    model = build_dedup_network(
        DedupConfig(feat_dim=12, use_appearance=use_appearance, geometry=geometry, **SMALL)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


@pytest.mark.parametrize("geometry", ["none", "unary", "pairwise"])
@pytest.mark.parametrize("use_appearance", [False, True])
def test_defect7_inputs_and_empty_shapes(
    tmp_path: Path, geometry: str, use_appearance: bool
) -> None:
    """Issue 10, defect 7: geometry="none" dropped the boxes input; G = 0 or N = 0 failed in
    onnxruntime at a Reshape node. Now the documented inputs always, and [G, 0, T] / [0, N, T]."""
    model = random_model(geometry, use_appearance)
    path = export_onnx(model, tmp_path / "dedup.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["boxes", "scores", "valid"] + (["features"] if use_appearance else [])
    for groups, size in [(0, 5), (3, 0), (0, 0), (1, 1), (2, 9)]:
        inputs = example_inputs(model, groups, size, seed=groups + size)
        with torch.no_grad():
            expected = model(*inputs)  # [G, N, T]
        (got,) = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})
        assert got.shape == tuple(expected.shape) == (groups, size, 5)
        valid = inputs[2]
        torch.testing.assert_close(
            torch.from_numpy(got)[valid], expected[valid], rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_defect5_onnx_file_mode_follows_the_umask(tmp_path: Path, mask: int) -> None:
    """Issue 10, defect 5: ONNX files were written 0600 whatever the umask."""
    old = os.umask(mask)
    try:
        path = export_onnx(random_model("none", False), tmp_path / "m.onnx")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_defect9_stale_temporaries_of_an_export_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / ".m.onnx.abcdefgh.tmp").write_bytes(b"orphan of a killed export")
    export_onnx(random_model("none", False), tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("model", [torch.nn.Linear(2, 2), "dedup.pt"])
def test_exporting_something_else_names_the_argument(tmp_path: Path, model: object) -> None:
    """Issue 10, unclear error: an AttributeError before."""
    with pytest.raises(ValueError, match=r"model must be a DuplicateRemovalNetwork"):
        export_onnx(model, tmp_path / "x.onnx")  # type: ignore[arg-type]


def test_bad_example_sizes(tmp_path: Path) -> None:
    model = random_model("none", False)
    with pytest.raises(ValueError, match=r"example_size must be an int >= 1, got 0"):
        export_onnx(model, tmp_path / "x.onnx", example_size=0)
    assert export_onnx(model, tmp_path / "x.onnx", example_groups=np.int64(1)).is_file()
