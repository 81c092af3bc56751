"""Configuration of the duplicate removal network of paper §4.3, Fig. 3(b), and Table 3's variants.

Beyond the paper: ``rank_feature="score"`` / ``"rank+score"``, ``head="relu"`` / ``"mlp"`` and
``overlap_feature`` (see :class:`DedupConfig`); the defaults are the paper's network, with
``init_std=0.1`` where the authors use 0.01 (see the README).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from relnet_core.checks import check_choice, check_float, check_int

from .._checks import check_flag, check_thresholds

RankFeature = Literal["rank", "score", "rank+score", "none"]
Geometry = Literal["pairwise", "unary", "none"]
Head = Literal["linear", "relu", "mlp"]
RANK_FEATURES = ("rank", "score", "rank+score", "none")
GEOMETRIES = ("pairwise", "unary", "none")
HEADS = ("linear", "relu", "mlp")


@dataclass(frozen=True)
class DedupConfig:
    """Configuration of :class:`DuplicateRemovalNetwork` (paper §4.3, §5.2, Table 3).

    Attributes:
        feat_dim: size of the input appearance feature (the head's 1024-d ``fc`` output).
        use_appearance: project the appearance feature with ``W_f`` (Table 3, "appearance f").
        rank_feature: ``"rank"`` (the paper's), ``"score"`` (``s0`` embedded instead of its rank),
            ``"rank+score"`` (both, each with its own projection: not in the paper)
            or ``"none"`` (Table 3, "rank f").
        geometry: the relation module's geometry: ``"pairwise"`` (Eq. 5), ``"unary"`` or
            ``"none"`` (Table 3, "geometric bbox").
        embed_dim: ``d_f`` of the relation module, the size of both projections (128).
        num_relations: ``N_r`` (16).
        key_dim: ``d_k`` (64).
        geo_dim: ``d_g`` (64).
        thresholds: the IoU thresholds eta, one output per threshold.
        logit_bias: initial bias of every logit, so ``s1 = sigmoid(logit_bias)`` at start.
        init_std: std of the normal initialisation of every linear layer (the relation module's
            too); the authors use 0.01; 0.1 leaves the early loss plateau more reliably on a
            small network (see the README).
        head: what turns the relation module's output into the logits: ``"linear"`` (``W_s``
            alone), ``"relu"`` (ReLU then ``W_s``, the authors' code) or ``"mlp"`` (ReLU, a
            ``d -> d`` fc, ReLU, then ``W_s``).
        overlap_feature: also add to the input each detection's largest IoU with a detection
            ranked above it in its group, embedded as the scores are (``W_fO``, not in the
            paper: the overlap Soft-NMS decays by, given to the network directly).
    """

    feat_dim: int = 1024
    use_appearance: bool = True
    rank_feature: RankFeature = "rank"
    geometry: Geometry = "pairwise"
    embed_dim: int = 128
    num_relations: int = 16
    key_dim: int = 64
    geo_dim: int = 64
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    logit_bias: float = -3.0
    init_std: float = 0.1
    head: Head = "linear"
    overlap_feature: bool = False

    def __post_init__(self) -> None:
        check_choice("rank_feature", self.rank_feature, RANK_FEATURES)
        check_choice("head", self.head, HEADS)
        check_choice("geometry", self.geometry, GEOMETRIES)
        for name in ("use_appearance", "overlap_feature"):
            check_flag(name, getattr(self, name))
        if not self.use_appearance and self.rank_feature == "none":
            raise ValueError(
                "use_appearance=False with rank_feature='none' leaves no input feature"
            )
        ints = {
            name: check_int(name, getattr(self, name), low=1)
            for name in ("feat_dim", "embed_dim", "num_relations", "key_dim", "geo_dim")
        }
        for name, value in ints.items():
            object.__setattr__(self, name, value)
        embed_dim, num_relations = ints["embed_dim"], ints["num_relations"]
        if embed_dim % 2 != 0:
            raise ValueError(f"embed_dim must be even (sines and cosines), got {embed_dim}")
        if embed_dim % num_relations != 0:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_relations ({num_relations})"
            )
        if self.geometry == "unary" and embed_dim % 8 != 0:
            raise ValueError(
                f"embed_dim must be divisible by 8 with geometry='unary', got {embed_dim}"
            )
        if self.geometry == "pairwise" and ints["geo_dim"] % 8 != 0:
            raise ValueError(
                f"geo_dim must be divisible by 8 with geometry='pairwise', got {ints['geo_dim']}"
            )
        thresholds = check_thresholds("thresholds", self.thresholds, distinct=True)
        object.__setattr__(self, "thresholds", thresholds)
        bias = check_float("logit_bias", self.logit_bias, high_open=True, low_open=True)
        std = check_float("init_std", self.init_std, low=0.0, low_open=True, high_open=True)
        object.__setattr__(self, "logit_bias", bias)
        object.__setattr__(self, "init_std", std)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (for checkpoints): the thresholds become a list."""
        out = dataclasses.asdict(self)
        out["thresholds"] = list(self.thresholds)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DedupConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown DedupConfig fields {unknown}")
        values = dict(data)
        if "thresholds" in values:
            values["thresholds"] = tuple(values["thresholds"])
        return cls(**values)
