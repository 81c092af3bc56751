"""``build_head``: a :class:`relnet_heads.HeadConfig` turned into a head (paper §4.2, Table 2)."""

from __future__ import annotations

from .base import BoxHead
from .config import HeadConfig
from .fc import FCHead
from .relation import RelationHead
from .residual import ResidualHead


def build_head(config: HeadConfig, in_channels: int, resolution: int) -> BoxHead:
    """The head ``config`` describes, for pooled RoI features ``[B, N, in_channels, r, r]``.

    Args:
        config (HeadConfig): kind, width and relation modules or residual blocks.
        in_channels (int): channels of the pooled features (the FPN's, 256 in the paper).
        resolution (int): RoI pooling size ``r`` (7).

    Returns:
        BoxHead: ``"2fc"`` / ``"3fc"`` -> :class:`FCHead`, ``"2fc+rm"`` -> :class:`RelationHead`,
        ``"2fc+res"`` -> :class:`ResidualHead`; ``out_dim == config.hidden_dim`` (twice that
        with ``box_feature="pre_relation"``).

    Raises:
        ValueError: ``config`` is not a HeadConfig, or a size is not a positive int.
    """
    if not isinstance(config, HeadConfig):
        raise ValueError(f"config must be a HeadConfig, got {type(config).__name__}")
    if config.kind == "2fc":
        return FCHead(in_channels, resolution, config.hidden_dim, num_fc=2)
    if config.kind == "3fc":
        return FCHead(in_channels, resolution, config.hidden_dim, num_fc=3)
    if config.kind == "2fc+res":
        return ResidualHead(in_channels, resolution, config.hidden_dim, config.res_blocks)
    return RelationHead(
        in_channels,
        resolution,
        config.hidden_dim,
        config.fc1_relations,
        config.fc2_relations,
        config.box_feature,
    )
