"""The duplicate removal network of paper §4.3, Fig. 3(b).

Appearance feature -> ``W_f`` (128-d) plus rank embedding -> ``W_fR`` (128-d), added; one relation
module over the detections of one group (one class of one image); a linear classifier ``W_s`` with
one logit per IoU threshold eta. ``s1 = sigmoid(logit)``; the final score is ``s0 * s1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from relnet_attention import RelationModule
from relnet_core.checks import check_choice, check_float, check_int
from relnet_geometry import rank_embedding, sinusoid_embedding

from ._checks import check_thresholds

RankFeature = Literal["rank", "score", "rank+score", "none"]
Geometry = Literal["pairwise", "unary", "none"]
Head = Literal["linear", "relu", "mlp"]
RANK_FEATURES = ("rank", "score", "rank+score", "none")
GEOMETRIES = ("pairwise", "unary", "none")
HEADS = ("linear", "relu", "mlp")
SCORE_SCALE = 1000.0  # scores in [0, 1] are embedded as ``1000 * s0``, the range of the ranks


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
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
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


def ranked_before(scores: Tensor, valid: Tensor) -> Tensor:
    """``[..., i, j]``: whether valid detection ``j`` comes before ``i`` in descending score
    order (a higher score, or an equal score at a lower position).

    Args:
        scores (Tensor[G, N]), valid (Tensor[G, N], bool).

    Returns:
        Tensor[G, N, N] bool.
    """
    n = scores.shape[-1]
    pos = torch.arange(n, device=scores.device)  # [N]
    s_i, s_j = scores[..., :, None], scores[..., None, :]  # [G, N, 1], [G, 1, N]
    before = (s_j > s_i) | ((s_j == s_i) & (pos[None, :] < pos[:, None]))  # [G, N, N]
    return before & valid[..., None, :]


def higher_ranked_overlap(boxes: Tensor, before: Tensor) -> Tensor:
    """Each detection's largest IoU with a detection that comes before it (0 for none).

    Args:
        boxes (Tensor[G, N, 4]): ``(x1, y1, x2, y2)``.
        before (Tensor[G, N, N], bool): :func:`ranked_before`.

    Returns:
        Tensor[G, N]: in ``[0, 1]``.
    """
    lo = torch.maximum(boxes[..., :, None, :2], boxes[..., None, :, :2])  # [G, N, N, 2]
    hi = torch.minimum(boxes[..., :, None, 2:], boxes[..., None, :, 2:])  # [G, N, N, 2]
    inter = (hi - lo).clamp(min=0).prod(dim=-1)  # [G, N, N]
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(dim=-1)  # [G, N]
    union = area[..., :, None] + area[..., None, :] - inter  # [G, N, N]
    iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)
    return iou.masked_fill(~before, 0.0).amax(dim=-1)  # [G, N]


def descending_ranks(scores: Tensor, valid: Tensor) -> Tensor:
    """0-based rank of each detection in descending score order within its group.

    Counts, for each detection, the valid detections that come before it: a higher score, or an
    equal score at a lower position (a stable sort's order). ``O(N^2)`` comparisons, no sort, so the
    graph exports to ONNX.

    Args:
        scores (Tensor[G, N]): scores ``s0``.
        valid (Tensor[G, N], bool): False for padding, which never counts as coming before.

    Returns:
        Tensor[G, N]: integer ranks; those of valid detections are ``0 .. n_valid - 1``.
    """
    return ranked_before(scores, valid).sum(dim=-1)  # [G, N]


class DuplicateRemovalNetwork(nn.Module):
    """Learned duplicate removal (Hu et al., CVPR 2018, §4.3, Fig. 3b).

    Each group (the detections of one class in one image) is one set for the relation module;
    groups are padded to a common size ``N`` and the padding is masked out of the keys, so a padded
    batch gives the same outputs as one call per group.

    Args:
        config (DedupConfig): sizes, input features and initialisation.

    Example:
        >>> net = DuplicateRemovalNetwork(DedupConfig(feat_dim=16, use_appearance=False))
        >>> boxes = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 10.0]]])
        >>> net(boxes, torch.tensor([[0.9, 0.8]]), torch.tensor([[True, True]])).shape
        torch.Size([1, 2, 5])
    """

    def __init__(self, config: DedupConfig) -> None:
        super().__init__()
        self.config = config
        d = config.embed_dim
        self.appearance = nn.Linear(config.feat_dim, d) if config.use_appearance else None  # W_f
        self.rank = nn.Linear(d, d) if config.rank_feature != "none" else None  # W_fR
        self.overlap = nn.Linear(d, d) if config.overlap_feature else None  # W_fO
        self.score = nn.Linear(d, d) if config.rank_feature == "rank+score" else None
        # N <= first_n (100 in the paper): one chunk, so the graph has no loop over N.
        self.relation = RelationModule(
            feat_dim=d,
            num_relations=config.num_relations,
            key_dim=config.key_dim,
            geo_dim=config.geo_dim,
            geometry=config.geometry,
            chunk_size=4096,
        )
        self.hidden = nn.Linear(d, d) if config.head == "mlp" else None
        self.classifier = nn.Linear(d, len(config.thresholds))  # W_s
        self.reset_parameters()

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The IoU thresholds eta, in the order of the output logits."""
        return self.config.thresholds

    def reset_parameters(self) -> None:
        """Every linear layer (the relation module's too) normal with ``init_std``, biases zero,
        the classifier's bias at ``logit_bias``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=self.config.init_std)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.classifier.bias, self.config.logit_bias)

    def forward(
        self, boxes: Tensor, scores: Tensor, valid: Tensor, features: Tensor | None = None
    ) -> Tensor:
        """Logits of ``s1`` for every detection and threshold.

        Args:
            boxes (Tensor[G, N, 4]): boxes ``(x1, y1, x2, y2)`` in pixels; padding any finite box.
            scores (Tensor[G, N]): classification scores ``s0``.
            valid (Tensor[G, N], bool): False for padding.
            features (Tensor[G, N, feat_dim], optional): appearance features, required iff
                ``config.use_appearance``.

        Returns:
            Tensor[G, N, T]: logits, ``s1 = sigmoid(logits)``; padding rows are meaningless.
        """
        if self.appearance is not None and features is None:
            raise ValueError("features are required: the network was built with use_appearance")
        if self.appearance is None and features is not None:
            raise ValueError("features were given but the network was built without appearance")
        if scores.shape != boxes.shape[:-1] or valid.shape != scores.shape:
            raise ValueError(
                f"boxes {tuple(boxes.shape)}, scores {tuple(scores.shape)} and valid "
                f"{tuple(valid.shape)} must have shapes [G, N, 4], [G, N], [G, N]"
            )
        dtype = self.classifier.weight.dtype
        x = boxes.new_zeros(*scores.shape, self.config.embed_dim, dtype=dtype)  # [G, N, d]
        if self.rank is not None:
            value = (scores * SCORE_SCALE).to(dtype)[..., None]  # [G, N, 1]
            score_emb = sinusoid_embedding(value, self.config.embed_dim)  # [G, N, d]
            if self.config.rank_feature == "score":
                x = x + self.rank(score_emb)
            else:
                order = descending_ranks(scores, valid)  # [G, N]
                x = x + self.rank(rank_embedding(order.to(dtype), self.config.embed_dim))
            if self.score is not None:
                x = x + self.score(score_emb)
        if self.appearance is not None and features is not None:
            x = x + self.appearance(features.to(dtype))  # [G, N, d]
        if self.overlap is not None:
            x = x + self.overlap_input(boxes.to(dtype), ranked_before(scores, valid))
        x = self.relation(x, boxes.to(dtype), key_mask=valid)  # [G, N, d]
        return self.logits(x)

    def overlap_input(self, boxes: Tensor, before: Tensor) -> Tensor:
        """``W_fO`` of the embedded :func:`higher_ranked_overlap`: Tensor[G, N, d]."""
        assert self.overlap is not None
        overlap = higher_ranked_overlap(boxes, before)  # [G, N]
        emb = sinusoid_embedding(overlap[..., None] * SCORE_SCALE, self.config.embed_dim)
        out: Tensor = self.overlap(emb)  # [G, N, d]
        return out

    def logits(self, x: Tensor) -> Tensor:
        """The logits ``[..., T]`` of the relation module's output ``x`` ``[..., d]``
        (``config.head``)."""
        if self.config.head != "linear":
            x = torch.relu(x)
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        out: Tensor = self.classifier(x)
        return out


def check_model(name: str, model: object) -> DuplicateRemovalNetwork:
    """``model`` if it is a :class:`DuplicateRemovalNetwork`, else a ``ValueError`` naming
    ``name``."""
    if not isinstance(model, DuplicateRemovalNetwork):
        raise ValueError(
            f"{name} must be a DuplicateRemovalNetwork (from build_dedup_network, fit or "
            f"load_checkpoint), got {_describe(model)}"
        )
    return model


def _describe(value: object) -> str:
    text = repr(value)
    return f"{text[:40]}{'...' if len(text) > 40 else ''} ({type(value).__name__})"


def build_dedup_network(config: DedupConfig | None = None) -> DuplicateRemovalNetwork:
    """Build the network from its configuration (the default: the paper's §5.2 setting)."""
    if config is not None and not isinstance(config, DedupConfig):
        raise ValueError(f"config must be a DedupConfig or None, got {type(config).__name__}")
    return DuplicateRemovalNetwork(config if config is not None else DedupConfig())
