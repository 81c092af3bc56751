"""Typed configuration of the detector and its training, with named presets and TOML files.

``DetectorConfig(model=ModelConfig(...), train=TrainConfig(...))`` describes a whole run
(:mod:`~relnet_detector.config.schema`); :data:`PRESETS` names ``"tiny"`` and ``"r50-fpn"``
(:mod:`~relnet_detector.config.presets`, where the ``tiny`` preset's departures from the paper are
described); ``load_config("tiny")`` or ``load_config("my.toml")``, ``save_config(config,
"my.toml")`` (:mod:`~relnet_detector.config.files`); :func:`with_epochs`, :func:`scale_lr_steps`
and :func:`describe_schedule` move and describe a run's schedule
(:mod:`~relnet_detector.config.schedule`).
"""

from relnet_dedup import DedupConfig
from relnet_heads.config import HeadConfig, RelationConfig

from .files import load_config, save_config
from .presets import PRESETS
from .schedule import describe_schedule, scale_lr_steps, with_epochs
from .schema import (
    BACKBONE_NAMES,
    REMOVER_METHODS,
    BackboneConfig,
    BackboneName,
    DetectorConfig,
    ModelConfig,
    RemoverConfig,
    RemoverMethod,
    RoIConfig,
    RPNConfig,
    TrainConfig,
)

__all__ = [
    "BACKBONE_NAMES",
    "PRESETS",
    "REMOVER_METHODS",
    "BackboneConfig",
    "BackboneName",
    "DedupConfig",
    "DetectorConfig",
    "HeadConfig",
    "ModelConfig",
    "RPNConfig",
    "RelationConfig",
    "RemoverConfig",
    "RemoverMethod",
    "RoIConfig",
    "TrainConfig",
    "describe_schedule",
    "load_config",
    "save_config",
    "scale_lr_steps",
    "with_epochs",
]
