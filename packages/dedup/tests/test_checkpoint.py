"""Checkpoints: round trip, weights_only loading, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import torch

import relnet_core.checkpoints as ser
import relnet_dedup.io.checkpoint as ckpt
from relnet_dedup import DedupConfig, build_dedup_network, load_checkpoint, save_checkpoint

CONFIG = DedupConfig(
    feat_dim=10,
    geometry="unary",
    thresholds=(0.5, 0.75),
    embed_dim=32,
    num_relations=4,
    key_dim=8,
    geo_dim=16,
    logit_bias=-2.0,
)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_dedup_network(CONFIG)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model


def test_round_trip_gives_the_same_network(tmp_path: Path) -> None:
    model = make_model()
    path = save_checkpoint(model, tmp_path / "dedup.pt")  # type: ignore[arg-type]
    loaded = load_checkpoint(path)
    assert loaded.config == CONFIG
    assert loaded.thresholds == (0.5, 0.75)
    assert not loaded.training
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(2, 5, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + 10], dim=-1)  # [2, 5, 4]
    args = (
        boxes,
        torch.rand(2, 5, generator=gen),
        torch.ones(2, 5, dtype=torch.bool),
        torch.randn(2, 5, 10, generator=gen),
    )
    torch.testing.assert_close(loaded(*args), model.eval()(*args), rtol=0, atol=0)


def read_payload(path: Path) -> dict[str, object]:
    """The inner payload of a checkpoint file, read with weights_only=True at both levels."""
    outer = torch.load(path, weights_only=True)
    return torch.load(io.BytesIO(outer["payload"]), weights_only=True)  # type: ignore[no-any-return]


def assert_load_refuses(path: Path, content: bytes, match: str) -> None:
    """A file holding ``content`` at ``path`` fails to load with a ``ValueError`` matching
    ``match``."""
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_checkpoint(path)


def test_file_is_plain_data_for_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(make_model(), tmp_path / "dedup.pt")  # type: ignore[arg-type]
    outer = torch.load(path, weights_only=True)
    assert sorted(outer) == ["format", "payload", "sha256"]
    assert outer["format"] == ckpt.FORMAT
    assert outer["sha256"] == hashlib.sha256(outer["payload"]).hexdigest()
    payload = read_payload(path)
    assert payload["version"] == ckpt.__version__ == "0.3.2"
    assert payload["thresholds"] == [0.5, 0.75]
    assert payload["config"]["geometry"] == "unary"  # type: ignore[index]
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())  # type: ignore[attr-defined]


def test_loading_never_runs_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "payload": Evil()}, path)
    with pytest.raises(ValueError, match=r"evil\.pt"):
        load_checkpoint(path)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dedup.pt"
    save_checkpoint(make_model(), path)  # type: ignore[arg-type]
    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ser.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(build_dedup_network(CONFIG), path)
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dedup.pt"]  # no temporary left


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_missing_directory_when_saving(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        save_checkpoint(make_model(), tmp_path / "no" / "dedup.pt")  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04garbage"])
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    assert_load_refuses(tmp_path / "bad.pt", content, r"bad\.pt.*corrupt")


def test_truncated_file(tmp_path: Path) -> None:
    path = save_checkpoint(make_model(), tmp_path / "cut.pt")  # type: ignore[arg-type]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.pt"):
        load_checkpoint(path)


def test_wrong_format(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(
        ValueError, match=r"not a relnet checkpoint: .*other\.pt: expected a 'relnet-dedup/.*' file"
    ):
        load_checkpoint(path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match=r"other\.pt: expected a 'relnet-dedup/.*' file.* 'list'"):
        load_checkpoint(path)
    ser.save_file({"a": 1}, path, format="something/else")
    with pytest.raises(ValueError, match=r"its format is 'something/else'"):
        load_checkpoint(path)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.1", "1.1.0", "garbage", "None"])
def test_incompatible_version(tmp_path: Path, version: str) -> None:
    path = save_checkpoint(make_model(), tmp_path / "old.pt")  # type: ignore[arg-type]
    payload = read_payload(path)
    payload["version"] = version
    ser.save_file(payload, path, format=ckpt.FORMAT)
    with pytest.raises(ValueError, match=rf"old\.pt.*{version}.*incompatible"):
        load_checkpoint(path)


def test_patch_version_is_compatible(tmp_path: Path) -> None:
    assert ckpt.compatible("0.2.7", "0.2.0")
    assert ckpt.compatible("0.1.7", "0.1.0")
    assert ckpt.compatible("1.2.0", "1.5.3")
    assert not ckpt.compatible("0.1.0", "0.2.0")


def test_weights_that_do_not_fit_the_config(tmp_path: Path) -> None:
    path = save_checkpoint(make_model(), tmp_path / "mixed.pt")  # type: ignore[arg-type]
    payload = read_payload(path)
    payload["config"]["embed_dim"] = 64  # type: ignore[index]
    ser.save_file(payload, path, format=ckpt.FORMAT)
    with pytest.raises(ValueError, match=r"mixed\.pt is malformed"):
        load_checkpoint(path)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_map_location_cuda(tmp_path: Path) -> None:
    path = save_checkpoint(make_model(), tmp_path / "dedup.pt")  # type: ignore[arg-type]
    model = load_checkpoint(path, map_location="cuda")
    assert next(model.parameters()).device.type == "cuda"


def test_a_0_1_checkpoint_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """0.1 wrote the payload itself, without a checksum: refused, naming the path and version."""
    model = make_model()
    path = tmp_path / "old01.pt"
    state = {k: v.detach() for k, v in model.state_dict().items()}
    torch.save(
        {
            "format": ckpt.FORMAT,
            "version": "0.1.0",
            "config": CONFIG.to_dict(),
            "thresholds": [0.5, 0.75],
            "state_dict": state,
        },
        path,
    )
    with pytest.raises(ValueError, match=r"old01\.pt has no checksum: .*older layout.*'0\.1\.0'"):
        load_checkpoint(path)


def test_defect4_one_flipped_byte_in_the_weights_is_detected(tmp_path: Path) -> None:
    """Issue 10, defect 4: a byte flipped in the middle used to load with changed weights."""
    path = save_checkpoint(make_model(), tmp_path / "flip.pt")  # type: ignore[arg-type]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"flip\.pt is corrupt: checksum mismatch"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content",
    [b"hello world\n", b"(ello world\n", b"G", b"\x80\x02", b"\x80\x02}q\x00.", b"\xff" * 64],
)
def test_defect4_corrupt_files_raise_value_error_naming_the_path(
    tmp_path: Path, content: bytes
) -> None:
    """Issue 10, defect 4: KeyError 101, IndexError, struct.error escaped before."""
    assert_load_refuses(tmp_path / "junk.pt", content, r"junk\.pt")


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    path = save_checkpoint(make_model(), tmp_path / "nan.pt")  # type: ignore[arg-type]
    payload = read_payload(path)
    state = payload["state_dict"]
    state["classifier.bias"][0] = float("nan")  # type: ignore[index]
    ser.save_file(payload, path, format=ckpt.FORMAT)
    with pytest.raises(ValueError, match=r"nan\.pt holds NaN or inf weights in classifier\.bias"):
        load_checkpoint(path)


@pytest.mark.parametrize("model", [torch.nn.Linear(2, 2), None, "dedup.pt"])
def test_saving_something_else_names_the_argument(tmp_path: Path, model: object) -> None:
    """Issue 10, unclear error: an AttributeError before."""
    with pytest.raises(ValueError, match=r"model must be a DuplicateRemovalNetwork .*, got"):
        save_checkpoint(model, tmp_path / "x.pt")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
