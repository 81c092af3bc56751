"""Backbones with a feature pyramid (FPN, Lin et al. 2017; the paper's §5 setting), built from
torchvision's parts: a small GroupNorm CNN for CPUs (``"tiny"``) or a torchvision ResNet.

``"tiny"`` returns four levels ``"0" .. "3"`` at strides 4, 8, 16, 32; a ResNet returns those and
``"pool"`` (stride 64, torchvision's ``LastLevelMaxPool``), as ``resnet_fpn_backbone`` does. The
RPN needs one anchor size per level: :func:`num_feature_levels`.

ImageNet weights are never downloaded: ``weights`` is a path to a state dict, or
``"torchvision"`` for the file torchvision's own loader would have put in ``torch.hub``'s cache.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.misc import FrozenBatchNorm2d

from relnet_core.checks import check_int

from ..config import BACKBONE_NAMES, BackboneConfig

__all__ = [
    "BACKBONES",
    "RESNETS",
    "TinyBackbone",
    "build_backbone",
    "num_feature_levels",
    "weights_path",
]

BACKBONES = BACKBONE_NAMES  # "tiny", then the torchvision ResNets
RESNETS = BACKBONES[1:]


def num_feature_levels(config: BackboneConfig) -> int:
    """Feature maps the backbone returns: 4 for ``"tiny"``, 5 for a ResNet (with ``"pool"``)."""
    return 4 if config.name == "tiny" else 5


def build_backbone(config: BackboneConfig) -> nn.Module:
    """The backbone with FPN that ``config`` describes.

    Args:
        config (BackboneConfig): name, channels, weights and trainable stages.

    Returns:
        nn.Module: maps images ``Tensor[B, 3, H, W]`` to an ``OrderedDict`` of feature maps
        ``Tensor[B, fpn_channels, H / s, W / s]`` (``s`` = 4, 8, 16, 32 [, 64]); attribute
        ``out_channels`` = ``config.fpn_channels``.

    Raises:
        ValueError: an unknown name, a bad size, or ImageNet weights that are not on disk (the
            message names the file expected) or do not fit the network.
    """
    _check(config)
    if config.name == "tiny":
        return TinyBackbone(config.tiny_channels, config.fpn_channels)
    resnet: nn.Module = _resnet_fpn(config)
    return resnet


class TinyBackbone(nn.Module):
    """A small GroupNorm CNN (four stages at strides 4, 8, 16, 32) with torchvision's FPN.

    Each stage halves the resolution with a strided 3x3 conv and adds a second 3x3 conv, each
    followed by GroupNorm and ReLU; a strided stem brings the input to stride 2 first.

    Args:
        channels (tuple[int, int, int, int]): the stages' widths.
        fpn_channels (int): the FPN's width, ``out_channels``.
    """

    def __init__(self, channels: tuple[int, ...], fpn_channels: int) -> None:
        super().__init__()
        stem = max(channels[0] // 2, 8)
        self.stem = _conv(3, stem, stride=2)
        widths = [stem, *channels]
        self.stages = nn.ModuleList(
            nn.Sequential(_conv(a, b, stride=2), _conv(b, b, stride=1))
            for a, b in itertools.pairwise(widths)
        )
        self.fpn = FeaturePyramidNetwork(list(channels), fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """Tensor[B, 3, H, W] -> ``{"0": [B, F, H/4, W/4], ..., "3": [B, F, H/32, W/32]}``."""
        x = self.stem(x)  # [B, c, H/2, W/2]
        levels: OrderedDict[str, Tensor] = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)  # [B, c_i, H/2^(i+2), W/2^(i+2)]
            levels[str(i)] = x
        out: OrderedDict[str, Tensor] = self.fpn(levels)
        return out


def _conv(a: int, b: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(math.gcd(b, 8), b),
        nn.ReLU(inplace=True),
    )


def _resnet_fpn(config: BackboneConfig) -> BackboneWithFPN:
    """torchvision's ``resnet_fpn_backbone`` composition, with weights from disk only."""
    pretrained = bool(config.weights)
    norm = FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    net = getattr(torchvision.models, config.name)(weights=None, norm_layer=norm)
    if pretrained:
        path = weights_path(config)
        state = _read_state_dict(path)
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"weights {path} do not fit {config.name}: {err}") from err
        # torchvision: frozen stages only with pretrained weights; from scratch everything trains
        trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][: config.trainable_layers]
        if config.trainable_layers == 5:
            trainable.append("bn1")
        for name, parameter in net.named_parameters():
            if not any(name.startswith(layer) for layer in trainable):
                parameter.requires_grad_(False)
    stage2 = net.inplanes // 8  # 64 (BasicBlock) or 256 (Bottleneck) channels out of layer1
    in_channels = [stage2 * 2**i for i in range(4)]
    return_layers = {f"layer{k + 1}": str(k) for k in range(4)}
    return BackboneWithFPN(net, return_layers, in_channels, config.fpn_channels)


def weights_path(config: BackboneConfig) -> Path:
    """The file of ``config.weights``: itself, or for ``"torchvision"`` the file torchvision's
    loader keeps in ``torch.hub.get_dir()/checkpoints``.

    Raises:
        ValueError: the file does not exist (the message names it and how to get it).
    """
    if config.weights == "torchvision":
        enum = torchvision.models.get_model_weights(config.name)
        url = enum["IMAGENET1K_V1"].url
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
        if not path.is_file():
            raise ValueError(
                f"ImageNet weights of {config.name} not found: expected {path} in torchvision's "
                f"cache (relnet never downloads; fetch {url} there, or set backbone.weights to "
                'a state-dict file, or to "" to train from scratch)'
            )
        return path
    path = Path(config.weights).expanduser()
    if not path.is_file():
        raise ValueError(f"backbone.weights: no state-dict file at {path}")
    return path


def _read_state_dict(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt file fails in many ways: name the file, keep the cause
        raise ValueError(f"cannot read weights {path}: {err}") from err
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"weights {path} hold a {type(state).__name__}, not a state dict")
    return state


def _check(config: BackboneConfig) -> None:
    if not isinstance(config, BackboneConfig):
        raise ValueError(f"config must be a BackboneConfig, got {type(config).__name__}")
    if config.name not in BACKBONES:
        raise ValueError(f"backbone.name must be one of {BACKBONES}, got {config.name!r}")
    check_int("backbone.fpn_channels", config.fpn_channels, low=1)
    channels = tuple(config.tiny_channels)
    if len(channels) != 4:
        raise ValueError(
            f"backbone.tiny_channels must be four positive ints, got {config.tiny_channels!r}"
        )
    for i, c in enumerate(channels):
        check_int(f"backbone.tiny_channels[{i}]", c, low=1)
    check_int("backbone.trainable_layers", config.trainable_layers, low=0, high=5)
