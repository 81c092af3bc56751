"""Backbones with FPN: levels, strides and channels; ResNet weights only from disk, never a
download, with a clear error naming the expected file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d

from relnet_detector import build_backbone
from relnet_detector.config import BackboneConfig
from relnet_detector.modeling.backbone import num_feature_levels


def test_tiny_levels_strides_channels() -> None:
    config = BackboneConfig(name="tiny", fpn_channels=16, tiny_channels=(8, 16, 16, 32))
    backbone = build_backbone(config)
    assert backbone.out_channels == 16
    out = backbone(torch.rand(2, 3, 64, 96))
    assert list(out) == ["0", "1", "2", "3"] == [str(i) for i in range(num_feature_levels(config))]
    for i, (name, level) in enumerate(out.items()):
        stride = 4 * 2**i
        assert level.shape == (2, 16, 64 // stride, 96 // stride), name
    sum(level.sum() for level in out.values()).backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_tiny_uses_group_norm() -> None:
    backbone = build_backbone(BackboneConfig(fpn_channels=16, tiny_channels=(8, 16, 16, 16)))
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())


def test_resnet_from_scratch_has_five_levels() -> None:
    config = BackboneConfig(name="resnet18", fpn_channels=16)
    backbone = build_backbone(config)
    out = backbone(torch.rand(1, 3, 64, 64))
    assert list(out) == ["0", "1", "2", "3", "pool"]
    assert num_feature_levels(config) == 5
    assert all(level.shape[1] == 16 for level in out.values())
    assert all(p.requires_grad for p in backbone.parameters())  # nothing frozen from scratch


def test_resnet_weights_from_a_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    config = BackboneConfig(name="resnet18", fpn_channels=16, weights=str(path), trainable_layers=2)
    backbone = build_backbone(config)
    torch.testing.assert_close(backbone.body.conv1.weight, reference.conv1.weight)
    assert isinstance(backbone.body.bn1, FrozenBatchNorm2d)
    trainable = {n.split(".")[1] for n, p in backbone.named_parameters() if p.requires_grad}
    assert {"layer3", "layer4"} <= trainable
    assert not {"conv1", "layer1", "layer2"} & trainable


def test_torchvision_cache_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    config = BackboneConfig(name="resnet50", fpn_channels=16, weights="torchvision")
    with pytest.raises(ValueError, match=r"resnet50-[0-9a-f]+\.pth"):
        build_backbone(config)
    assert not (tmp_path / "hub").exists()


def test_torchvision_cache_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / Path(url).name)
    backbone = build_backbone(BackboneConfig(name="resnet18", weights="torchvision"))
    torch.testing.assert_close(
        backbone.body.layer4[0].conv1.weight, reference.layer4[0].conv1.weight
    )


@pytest.mark.parametrize("content", [b"garbage", None], ids=["corrupt", "wrong network"])
def test_bad_weight_files_name_the_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "weights.pth"
    if content is None:
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
        name = "resnet34"
    else:
        path.write_bytes(content)
        name = "resnet18"
    with pytest.raises(ValueError, match=r"weights\.pth"):
        build_backbone(BackboneConfig(name=name, weights=str(path)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing\.pth"):
        build_backbone(BackboneConfig(name="resnet18", weights=str(tmp_path / "missing.pth")))


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"name": "vgg16"}, "name"),
        ({"fpn_channels": 0}, "fpn_channels"),
        ({"tiny_channels": (8, 16, 32)}, "tiny_channels"),
        ({"tiny_channels": (8, 16, 0, 32)}, "tiny_channels"),
        ({"trainable_layers": 6}, "trainable_layers"),
    ],
)
def test_bad_config_names_field(change: dict[str, object], name: str) -> None:
    config = dataclasses.replace(BackboneConfig(), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        build_backbone(config)
