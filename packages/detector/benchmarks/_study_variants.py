"""The learned-remover variants of ``remover_study.py``: each a change to the headline's
separately trained remover (the ``tiny`` preset's network, ``relnet_dedup.fit`` 10 epochs Adam
3e-3, ``first_n`` 32, ``s0 > 0.01``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from relnet_dedup import DuplicateRemovalNetwork, load_checkpoint
from relnet_detector.config import RemoverConfig


@dataclass(frozen=True)
class Variant:
    """One learned remover: ``dedup`` changes the preset's ``DedupConfig``, ``fit`` the
    arguments of ``relnet_dedup.fit``; the candidates per class in training and at test."""

    name: str
    dedup: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=lambda: {"epochs": 10, "lr": 3e-3})
    first_n: int = 32
    score_threshold: float = 0.01
    train_first_n: int = 32
    train_score_threshold: float = 0.01
    train_images: int = 0
    inputs: str = "head"
    flipped: bool = False
    note: str = ""

    @property
    def layers(self) -> bool:
        """Whether the variant needs the head's inner features (``remover_study.collect``)."""
        return "fc7-pre" in self.inputs


COCO_ETAS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
PAPER_SIZE = {"embed_dim": 128, "num_relations": 16, "key_dim": 64, "geo_dim": 64}

VARIANTS = {
    v.name: v
    for v in (
        Variant("base", note="the headline's: 64-d, N_r 8, first_n 32, appearance + boxes"),
        Variant("boxes", dedup={"use_appearance": False}, note="boxes + scores only"),
        Variant("first100", first_n=100, train_first_n=100, note="first_n 100 (the paper's)"),
        Variant("paper-size", dedup=PAPER_SIZE, note="128-d, N_r 16, d_k 64, d_g 64"),
        Variant("all-scores", train_score_threshold=0.001, note="train on s0 > 0.001"),
        Variant("pos4", fit={"epochs": 10, "lr": 3e-3, "pos_weight": 4.0}, note="pos weight 4"),
        Variant("long", fit={"epochs": 30, "lr": 3e-3}, note="30 epochs"),
        Variant("ep4", fit={"epochs": 4, "lr": 3e-3}, note="4 epochs (the detector's)"),
        Variant("relu", dedup={"head": "relu"}, note="ReLU before W_s (the authors' code)"),
        Variant("mlp", dedup={"head": "mlp"}, note="ReLU, fc, ReLU before W_s"),
        Variant("overlap", dedup={"overlap_feature": True}, note="+ IoU with a box ranked above"),
        Variant("overlap-relu", dedup={"overlap_feature": True, "head": "relu"}, note="both"),
        Variant("rank+score", dedup={"rank_feature": "rank+score"}, note="s0 and its rank"),
        Variant(
            "overlap-relu-first100",
            dedup={"overlap_feature": True, "head": "relu"},
            first_n=100,
            train_first_n=100,
            note="overlap, ReLU, first_n 100",
        ),
        Variant(
            "overlap-mlp-first100",
            dedup={"overlap_feature": True, "head": "mlp"},
            first_n=100,
            train_first_n=100,
            note="overlap, MLP head, first_n 100",
        ),
        Variant(
            "rank+score+overlap",
            dedup={"rank_feature": "rank+score", "overlap_feature": True},
            note="s0, its rank and the overlap",
        ),
        Variant("paper-size-init", dedup={**PAPER_SIZE, "init_std": 0.01}, note="... init 0.01"),
        Variant("class", inputs="head+class", note="+ the RoI's class scores, one-hot class"),
        Variant("score", dedup={"rank_feature": "score"}, note="s0 embedded instead of its rank"),
        Variant("init001", dedup={"init_std": 0.01}, note="the authors' init, std 0.01"),
        Variant("geo64", dedup={"geo_dim": 64}, note="d_g 64"),
        Variant("nr16", dedup={"num_relations": 16, "key_dim": 16}, note="N_r 16"),
        Variant("wide128", dedup={"embed_dim": 128, "num_relations": 16}, note="128-d, N_r 16"),
        Variant("coco-etas", dedup={"thresholds": COCO_ETAS}, note="eta 0.5:0.05:0.95 (COCO's)"),
        Variant("flips", flipped=True, note="+ the train images mirrored (4,000 images)"),
        Variant("fc7-pre", inputs="fc7-pre", note="fc2's output before its relation module"),
        Variant("head+fc7-pre", inputs="head+fc7-pre", note="both, concatenated"),
        Variant("eta50", dedup={"thresholds": (0.5,)}, note="eta {0.5}"),
        Variant("eta75", dedup={"thresholds": (0.75,)}, note="eta {0.75}"),
    )
}


def headline_variants(recipe: Variant) -> dict[str, Variant]:
    """The headline's learned rows: the recipe, its boxes-only ablation, and the recipe fitted
    for the detector's own 4 epochs (the end-to-end network's budget)."""
    return {
        "learned": recipe,
        "learned-boxes": replace(
            recipe, name=f"{recipe.name}-boxes", dedup={**recipe.dedup, "use_appearance": False}
        ),
        "learned-4ep": replace(recipe, name=f"{recipe.name}-4ep", fit={**recipe.fit, "epochs": 4}),
    }


HEADLINE = headline_variants(VARIANTS["overlap-relu-first100"])


def learned_remover(
    base: RemoverConfig, variant: Variant, checkpoint: Path
) -> tuple[RemoverConfig, DuplicateRemovalNetwork]:
    """The ``"learned"`` remover of a variant fitted to ``checkpoint``, and its network (eval)."""
    remover = replace(
        base,
        method="learned",
        checkpoint=str(checkpoint),
        first_n=variant.first_n,
        score_threshold=variant.score_threshold,
    )
    return remover, load_checkpoint(checkpoint).eval()
