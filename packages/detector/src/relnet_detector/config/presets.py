"""The named presets of :func:`relnet_detector.config.load_config`.

- ``"tiny"``: for two CPU cores: a small GroupNorm CNN with FPN (64 channels), 160 px images, a
  256-d 2fc+RM head (one relation module after each fc, ``N_r`` 16, ``d_k`` 16, ``d_g`` 32), 64
  sampled RoIs per image, 100 proposals at test time and the end-to-end learned remover with a
  small network (64-d embedding, ``N_r`` 8, ``d_k`` 16, ``d_g`` 32, the authors' ReLU before the
  classifier, each detection's overlap with those ranked above it as an input) over at most 100
  detections per class, trained by Adam with ``s0`` receiving the dedup loss's gradient (the
  recipe the detector README's remover study measured). (``d_g`` 32 instead of the paper's 64:
  the relation modules' cost on the CPU is mostly the ``N^2 d_g`` sines and cosines of the
  geometry embedding; see the detector README's speed table.) Its values are the dataclasses'
  defaults (:mod:`relnet_detector.config.schema`).
- ``"r50-fpn"``: the paper's ResNet-50 + FPN setting (§5.1): 800 px shorter side, 512 RoIs,
  1024-d 2fc+RM head ``{1, 1}`` with ``N_r`` 16, ``d_k`` 64, ``d_g`` 64, end-to-end remover.
"""

from __future__ import annotations

import typing

from relnet_heads.config import HeadConfig, RelationConfig

from .schema import (
    BackboneConfig,
    DetectorConfig,
    ModelConfig,
    RemoverConfig,
    RoIConfig,
    RPNConfig,
    TrainConfig,
)

__all__ = ["PRESETS"]


def _r50_fpn() -> DetectorConfig:
    relation = RelationConfig(num_relations=16, key_dim=64, geo_dim=64)
    model = ModelConfig(
        min_size=800,
        max_size=1333,
        backbone=BackboneConfig(name="resnet50", fpn_channels=256, weights="torchvision"),
        rpn=RPNConfig(
            anchor_sizes=(32, 64, 128, 256, 512),
            pre_nms_top_n_train=2000,
            pre_nms_top_n_test=1000,
            post_nms_top_n_train=2000,
            post_nms_top_n_test=1000,
            nms_thresh=0.7,
            batch_size_per_image=256,
        ),
        roi=RoIConfig(batch_size_per_image=512),
        head=HeadConfig(
            kind="2fc+rm", hidden_dim=1024, fc1_relations=(relation,), fc2_relations=(relation,)
        ),
        remover=RemoverConfig(),  # the paper's: first_n 100, the §4.3 network
    )
    train = TrainConfig(
        epochs=26,
        batch_size=2,
        lr=0.02,
        warmup_iters=1000,
        lr_steps=(16, 22),
        workers=4,
        dedup_lr_factor=1.0,
        dedup_optimizer="sgd",
    )
    return DetectorConfig(model=model, train=train)


PRESETS: dict[str, typing.Callable[[], DetectorConfig]] = {
    "tiny": DetectorConfig,
    "r50-fpn": _r50_fpn,
}
