"""The arms of ``paper.py``: each the ``tiny`` preset (``_headline_setup.arm_config``) with a
changed head, training remover or budget; and the learned-remover ablations of Table 3."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from _headline_setup import arm_config
from _study_variants import HEADLINE, Variant

from relnet_detector.config import DetectorConfig, with_epochs
from relnet_heads import HeadConfig, build_head
from relnet_heads.base import count_parameters


@dataclass(frozen=True)
class Arm:
    """One trained detector: ``base`` (an arm of ``headline.py``: ``2fc``, ``rm`` or ``e2e``)
    with its head changed by ``head`` and its budget (epochs, lr steps) multiplied by ``budget``;
    ``seeds`` how many seeds the tables need (the first of ``--seeds``)."""

    name: str
    label: str
    base: str
    head: Callable[[HeadConfig], HeadConfig] | None = None
    budget: int = 1
    seeds: int = 2


def _relations(**changes: object) -> Callable[[HeadConfig], HeadConfig]:
    """Every relation module of the head changed (geometry, N_r)."""

    def change(head: HeadConfig) -> HeadConfig:
        return replace(
            head,
            fc1_relations=tuple(replace(r, **changes) for r in head.fc1_relations),  # type: ignore[arg-type]
            fc2_relations=tuple(replace(r, **changes) for r in head.fc2_relations),  # type: ignore[arg-type]
        )

    return change


def _modules(r1: int, r2: int) -> Callable[[HeadConfig], HeadConfig]:
    """``r1`` relation modules after fc1 and ``r2`` after fc2 (copies of the preset's)."""

    def change(head: HeadConfig) -> HeadConfig:
        module = head.fc1_relations[0]
        return replace(head, fc1_relations=(module,) * r1, fc2_relations=(module,) * r2)

    return change


def _kind(kind: str, **changes: object) -> Callable[[HeadConfig], HeadConfig]:
    def change(head: HeadConfig) -> HeadConfig:
        return replace(head, kind=kind, **changes)  # type: ignore[arg-type]

    return change


def _wide(head: HeadConfig) -> HeadConfig:
    return replace(head, kind="2fc", hidden_dim=wide_hidden())


IN_CHANNELS, RESOLUTION = 64, 7  # the tiny preset's FPN channels and RoI pool size


@functools.cache
def wide_hidden() -> int:
    """The width (a multiple of 8) at which a 2fc head has at least the parameters of the
    preset's 2fc+RM {1, 1} head: Table 2's "2fc (wider)" (1432-d against 1024 in the paper)."""
    target = count_parameters(build_head(_rm_head(), IN_CHANNELS, RESOLUTION))
    width = _rm_head().hidden_dim
    while count_parameters(build_head(HeadConfig(kind="2fc", hidden_dim=width), 64, 7)) < target:
        width += 8
    return width


def _rm_head() -> HeadConfig:
    return arm_config("rm", 0).model.head


ARMS: dict[str, Arm] = {
    a.name: a
    for a in (
        # Table 1 and Table 4 (two seeds each); 2fc, rm and e2e are headline.py's arms
        Arm("2fc", "2fc", "2fc"),
        Arm("rm", "2fc+RM {1, 1}, N_r 16, pairwise geometry", "rm"),
        Arm("e2e", "2fc+RM, end to end", "e2e"),
        Arm("geo-none", "geometry none", "rm", _relations(geometry="none")),
        Arm("geo-unary", "geometry unary", "rm", _relations(geometry="unary")),
        Arm("nr1", "N_r 1", "rm", _relations(num_relations=1)),
        Arm("nr4", "N_r 4", "rm", _relations(num_relations=4)),
        Arm("nr8", "N_r 8", "rm", _relations(num_relations=8)),
        Arm("m10", "{r1, r2} = {1, 0}", "rm", _modules(1, 0)),
        Arm("m01", "{r1, r2} = {0, 1}", "rm", _modules(0, 1)),
        Arm("m22", "{r1, r2} = {2, 2}", "rm", _modules(2, 2)),
        # Table 2 (two seeds: its claims rest on them)
        Arm("2fc-wide", "2fc (wider)", "2fc", _wide),
        Arm("3fc", "3fc", "2fc", _kind("3fc")),
        Arm("res11", "2fc+res {1, 1}", "2fc", _kind("2fc+res", res_blocks=(1, 1))),
        Arm("res22", "2fc+res {2, 2}", "2fc", _kind("2fc+res", res_blocks=(2, 2))),
        # the plain-class localisation question (one seed)
        Arm("2fc-2x", "2fc, 2x budget", "2fc", budget=2, seeds=1),
        Arm("rm-2x", "2fc+RM, 2x budget", "rm", budget=2, seeds=1),
        Arm("2fc-4x", "2fc, 4x budget", "2fc", budget=4, seeds=1),
        Arm("rm-4x", "2fc+RM, 4x budget", "rm", budget=4, seeds=1),
        Arm(
            "rm-prebox",
            "2fc+RM, box regressor on fc2's pre-relation feature",
            "rm",
            lambda head: replace(head, box_feature="pre_relation"),
        ),
        Arm("rm-zero-v", "2fc+RM, W_V initialised to zero", "rm", _relations(value_init="zero")),
    )
}
# the order the runner trains in when given no --arms: Tables 1 and 4 first
PRIORITY = tuple(ARMS)

# Table 3: the learned remover (headline.py's recipe) with one input or the thresholds changed,
# fitted on the frozen 2fc+RM detector (arm rm); rows already in its eval.json are reused
RECIPE = HEADLINE["learned"]


def _ablation(name: str, **dedup: object) -> Variant:
    return replace(RECIPE, name=f"{RECIPE.name}-{name}", dedup={**RECIPE.dedup, **dedup})


ABLATIONS: dict[str, Variant] = {
    "no-rank": _ablation("norank", rank_feature="none"),
    "score-rank": _ablation("score", rank_feature="score"),
    "no-geometry": _ablation("nogeo", geometry="none"),
    "unary-geometry": _ablation("unary", geometry="unary"),
    "eta50": _ablation("eta50", thresholds=(0.5,)),
    "eta75": _ablation("eta75", thresholds=(0.75,)),
}
ABLATION_ARM = "rm-t3"  # the pseudo-arm of --arms that fits ABLATIONS on rm's run


def paper_config(name: str, seed: int, *, smoke: bool = False) -> DetectorConfig:
    """The arm's configuration: headline's ``arm_config`` of its base, head and budget changed."""
    arm = ARMS[name]
    config = arm_config(arm.base, seed, smoke=smoke)
    if arm.budget != 1:  # the lr steps at the same fractions of the run
        config = with_epochs(config, config.train.epochs * arm.budget)
    model, train = config.model, config.train
    if arm.head is not None:
        model = replace(model, head=arm.head(model.head))
    if smoke:  # every arm still builds and trains (2 steps an epoch); smaller images, fewer RoIs
        train = replace(train, batch_size=8)
        model = replace(
            model,
            min_size=96,
            max_size=96,
            rpn=replace(model.rpn, pre_nms_top_n_test=60, post_nms_top_n_test=20),
            roi=replace(model.roi, batch_size_per_image=16),
        )
    return replace(config, model=model, train=train)
