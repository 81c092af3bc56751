"""The duplicate removal network of paper §4.3, Fig. 3(b).

Appearance feature -> ``W_f`` (128-d) plus rank embedding -> ``W_fR`` (128-d), added; one relation
module over the detections of one group (one class of one image); a linear classifier ``W_s`` with
one logit per IoU threshold eta. ``s1 = sigmoid(logit)``; the final score is ``s0 * s1``. The
options beyond the paper (a score embedding, the overlap feature, other heads) are
:class:`~relnet_dedup.network.config.DedupConfig`'s.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relnet_attention import RelationModule
from relnet_geometry import rank_embedding, sinusoid_embedding

from .config import DedupConfig
from .features import SCORE_SCALE, descending_ranks, higher_ranked_overlap, ranked_before


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
