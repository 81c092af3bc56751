"""Configuration of the instance heads (paper §4.2, Eq. 9-10, Table 2).

A head maps the pooled RoI features of each image's proposals to one feature per object:

- ``"2fc"``: two fully connected layers (Eq. 9); a wider ``hidden_dim`` gives Table 2's
  "2fc (wider)" baseline.
- ``"2fc+rm"``: the relation head (Eq. 10): ``fc1_relations`` relation modules after the first fc
  and ``fc2_relations`` after the second (the paper's ``{r1, r2}``), each with its own ``N_r``,
  ``d_k``, ``d_g`` and geometry.
- ``"3fc"``: three fully connected layers (Table 2, "3fc").
- ``"2fc+res"``: ``res_blocks[0]`` residual blocks after the first fc and ``res_blocks[1]`` after
  the second (Table 2, "2fc+res {r1, r2}"), with the same capacity as relation modules.

Two options of the relation head that are not in the paper, ablations of its localisation:
``HeadConfig.box_feature="pre_relation"`` gives the box regressor fc2's feature before its
relation modules, and ``RelationConfig.value_init="zero"`` starts a module as the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from relnet_attention import GEOMETRIES, VALUE_INITS, Geometry, ValueInit
from relnet_core.checks import check_choice

from .validation import check_block_counts, check_positive_int

__all__ = [
    "BOX_FEATURES",
    "GEOMETRIES",
    "HEAD_KINDS",
    "BoxFeature",
    "Geometry",
    "HeadConfig",
    "HeadKind",
    "RelationConfig",
]

HeadKind = Literal["2fc", "2fc+rm", "3fc", "2fc+res"]
HEAD_KINDS: tuple[str, ...] = ("2fc", "2fc+rm", "3fc", "2fc+res")
BoxFeature = Literal["relation", "pre_relation"]
BOX_FEATURES: tuple[str, ...] = ("relation", "pre_relation")


@dataclass(frozen=True)
class RelationConfig:
    """One relation module of a head (paper §3): ``N_r``, ``d_k``, ``d_g``, the geometry and the
    initialisation of ``W_V`` (``"normal"``, the authors', or ``"zero"``: the module starts as
    the identity; see :class:`relnet_attention.RelationModule`)."""

    num_relations: int = 16
    key_dim: int = 64
    geo_dim: int = 64
    geometry: Geometry = "pairwise"
    value_init: ValueInit = "normal"

    def __post_init__(self) -> None:
        for name in ("num_relations", "key_dim", "geo_dim"):
            check_positive_int(f"RelationConfig.{name}", getattr(self, name))
        check_choice("RelationConfig.geometry", self.geometry, GEOMETRIES)
        check_choice("RelationConfig.value_init", self.value_init, VALUE_INITS)


@dataclass(frozen=True)
class HeadConfig:
    """The box head: kind, width and the relation modules or residual blocks after each fc.

    Attributes:
        kind: one of ``"2fc"``, ``"2fc+rm"``, ``"3fc"``, ``"2fc+res"``.
        hidden_dim: width of every fc (1024 in the paper); also the output feature size.
        fc1_relations: relation modules after fc1 (``r1`` of them), ``"2fc+rm"`` only.
        fc2_relations: relation modules after fc2 (``r2`` of them), ``"2fc+rm"`` only.
        res_blocks: residual blocks after fc1 and after fc2, ``"2fc+res"`` only.
        box_feature: what the box regressor reads, ``"2fc+rm"`` only: ``"relation"`` (the
            paper's: the feature after fc2's relation modules, as the classifier) or
            ``"pre_relation"`` (fc2's feature before its relation modules; the head's output is
            then both, ``[B, N, 2 * hidden_dim]``, and ``BoxHead.box_dim`` says so).
    """

    kind: HeadKind = "2fc+rm"
    hidden_dim: int = 1024
    fc1_relations: tuple[RelationConfig, ...] = field(default_factory=lambda: (RelationConfig(),))
    fc2_relations: tuple[RelationConfig, ...] = field(default_factory=lambda: (RelationConfig(),))
    res_blocks: tuple[int, int] = (1, 1)
    box_feature: BoxFeature = "relation"

    def __post_init__(self) -> None:
        check_choice("HeadConfig.kind", self.kind, HEAD_KINDS)
        check_choice("HeadConfig.box_feature", self.box_feature, BOX_FEATURES)
        if self.box_feature != "relation" and self.kind != "2fc+rm":
            raise ValueError(
                f"HeadConfig.box_feature {self.box_feature!r} needs kind '2fc+rm', "
                f"got {self.kind!r}: the other heads have no relation modules"
            )
        check_positive_int("HeadConfig.hidden_dim", self.hidden_dim)
        for name in ("fc1_relations", "fc2_relations"):
            modules = tuple(getattr(self, name))
            for module in modules:
                if not isinstance(module, RelationConfig):
                    raise ValueError(
                        f"HeadConfig.{name} must hold RelationConfig, got {type(module).__name__}"
                    )
                # the relation modules are only built by "2fc+rm": the other kinds (e.g. the
                # 1432-d "2fc (wider)" of Table 2) keep the default modules unused
                if self.kind == "2fc+rm" and self.hidden_dim % module.num_relations != 0:
                    raise ValueError(
                        f"HeadConfig.hidden_dim {self.hidden_dim} must be divisible by "
                        f"{name}'s num_relations {module.num_relations}"
                    )
            object.__setattr__(self, name, modules)
        blocks = check_block_counts("HeadConfig.res_blocks", self.res_blocks)
        object.__setattr__(self, "res_blocks", blocks)
