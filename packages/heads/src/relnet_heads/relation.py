"""The 2fc+RM head of paper §4.2, Eq. (10) and Fig. 3(a): relation modules after each fc.

Order per fc, as in the authors' released code (``fc_new_1 -> fc_all_1 = fc_new_1 + attention_1
-> ReLU``): ``fc -> RM x r -> ReLU``. A relation module's output already holds its input
(``f + Concat_r f_R^r``, Eq. 6), so stacked modules (``r > 1``, which the released code does not
have) refine the same pre-activation feature and the ReLU comes once, after the last.

With ``box_feature="pre_relation"`` (not in the paper) the head also returns fc2's feature before
its relation modules (after the ReLU), for the box regressor alone: ``[relation | pre-relation]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from relnet_attention import RelationModule
from relnet_core.checks import check_choice

from .base import BoxHead
from .config import BOX_FEATURES, BoxFeature, RelationConfig
from .validation import check_positive_int


class RelationHead(BoxHead):
    """2fc head with ``r1`` relation modules after fc1 and ``r2`` after fc2 (Eq. 10).

    Args:
        in_channels (int): channels of the pooled RoI features.
        resolution (int): their spatial size.
        hidden_dim (int): width of both fc layers and the relation modules' ``d_f``; ``out_dim``.
        fc1_relations (sequence of RelationConfig): the modules after fc1, applied in order.
        fc2_relations (sequence of RelationConfig): the modules after fc2, applied in order.
        box_feature (str): ``"relation"`` (the paper's) or ``"pre_relation"``: the output is
            ``[B, N, 2 * hidden_dim]``, the relation feature then fc2's feature before its
            relation modules, and ``box_dim = hidden_dim``.

    Example:
        >>> head = RelationHead(8, 7, 64, [RelationConfig(4, 16, 16)], [RelationConfig(4, 16, 16)])
        >>> boxes = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]]])  # [1, 2, 4]
        >>> out, weights = head(torch.randn(1, 2, 8, 7, 7), boxes, return_weights=True)
        >>> out.shape, [w.shape for w in weights]
        (torch.Size([1, 2, 64]), [torch.Size([1, 4, 2, 2]), torch.Size([1, 4, 2, 2])])
    """

    def __init__(
        self,
        in_channels: int,
        resolution: int,
        hidden_dim: int = 1024,
        fc1_relations: Sequence[RelationConfig] = (RelationConfig(),),
        fc2_relations: Sequence[RelationConfig] = (RelationConfig(),),
        box_feature: BoxFeature = "relation",
    ) -> None:
        super().__init__(in_channels, resolution)
        check_positive_int("hidden_dim", hidden_dim)
        check_choice("box_feature", box_feature, BOX_FEATURES)
        self.box_dim = hidden_dim if box_feature == "pre_relation" else 0
        self.out_dim = hidden_dim + self.box_dim
        self.fc6 = nn.Linear(self.in_features, hidden_dim)
        self.fc7 = nn.Linear(hidden_dim, hidden_dim)
        self.fc6_relations = nn.ModuleList(_modules(hidden_dim, fc1_relations, "fc1_relations"))
        self.fc7_relations = nn.ModuleList(_modules(hidden_dim, fc2_relations, "fc2_relations"))

    def _forward(
        self, x: Tensor, boxes: Tensor, key_mask: Tensor | None, return_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        weights: list[Tensor] = []
        for fc, relations in ((self.fc6, self.fc6_relations), (self.fc7, self.fc7_relations)):
            x = fc(x)  # [B, N, hidden_dim]
            pre_relation = x
            for module in relations:
                if return_weights:
                    x, w = module(x, boxes, key_mask, return_weights=True)  # w: [B, Nr, N, N]
                    weights.append(w)
                else:
                    x = module(x, boxes, key_mask)  # [B, N, hidden_dim]
            x = F.relu(x)
        if self.box_dim:
            x = torch.cat([x, F.relu(pre_relation)], dim=-1)  # [B, N, 2 * hidden_dim]
        return x, weights


def _modules(feat_dim: int, configs: Sequence[RelationConfig], name: str) -> list[RelationModule]:
    modules = []
    for i, config in enumerate(configs):
        if not isinstance(config, RelationConfig):
            raise ValueError(f"{name}[{i}] must be a RelationConfig, got {type(config).__name__}")
        modules.append(
            RelationModule(
                feat_dim=feat_dim,
                num_relations=config.num_relations,
                key_dim=config.key_dim,
                geo_dim=config.geo_dim,
                geometry=config.geometry,
                value_init=config.value_init,
            )
        )
    return modules
