"""The optimizer of :func:`relnet_detector.train`: SGD for the detector and, for the end-to-end
remover's network, SGD at ``lr * dedup_lr_factor`` or Adam (``TrainConfig.dedup_optimizer``).

The remover's network is small and sees its loss through a product of probabilities; at the
``tiny`` budget it learns far more per step with Adam than with SGD (issue 16: the same network
fitted alone on frozen detector output reaches 3 mAP more with Adam). One optimizer object either
way, so the schedule (one ``LambdaLR``), the gradient scaler and the checkpoint see one thing:
:class:`SGDWithAdamGroup` holds a ``torch.optim.SGD`` and a ``torch.optim.Adam`` and presents
their parameter groups as its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import TrainConfig

__all__ = ["SGDWithAdamGroup", "build_optimizer"]


class SGDWithAdamGroup(torch.optim.Optimizer):
    """``torch.optim.SGD`` over ``sgd_groups`` and ``torch.optim.Adam`` over ``adam_groups``.

    ``param_groups`` is the SGD groups followed by the Adam groups (the same dicts: a scheduler
    that sets ``group["lr"]`` sets it for the optimizer that owns the group); ``state_dict()``
    holds both optimizers' states.

    Args:
        sgd_groups (list[dict]): parameter groups of SGD.
        adam_groups (list[dict]): parameter groups of Adam.
        lr (float): SGD's default learning rate.
        momentum (float), weight_decay (float): SGD's.
        adam_lr (float): Adam's default learning rate (no weight decay).
    """

    def __init__(
        self,
        sgd_groups: list[dict[str, Any]],
        adam_groups: list[dict[str, Any]],
        *,
        lr: float,
        momentum: float,
        weight_decay: float,
        adam_lr: float,
    ) -> None:
        self.sgd = torch.optim.SGD(sgd_groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.adam = torch.optim.Adam(adam_groups, lr=adam_lr)
        params = [p for g in (*self.sgd.param_groups, *self.adam.param_groups) for p in g["params"]]
        super().__init__(params, {"lr": lr})
        self.param_groups = [*self.sgd.param_groups, *self.adam.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.sgd.zero_grad(set_to_none=set_to_none)
        self.adam.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("SGDWithAdamGroup.step takes no closure")
        self.sgd.step()
        self.adam.step()

    def state_dict(self) -> dict[str, Any]:
        return {"sgd": self.sgd.state_dict(), "adam": self.adam.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if set(state_dict) != {"sgd", "adam"}:
            raise ValueError(
                f"expected the state of SGD and Adam (keys 'sgd', 'adam'), got keys "
                f"{sorted(state_dict)}: a checkpoint written with another dedup_optimizer"
            )
        self.sgd.load_state_dict(state_dict["sgd"])
        self.adam.load_state_dict(state_dict["adam"])
        self.param_groups = [*self.sgd.param_groups, *self.adam.param_groups]


def build_optimizer(model: nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    """SGD over the detector's trainable parameters; the end-to-end remover's network (if any)
    in its own group at ``lr * dedup_lr_factor``, by SGD or by Adam."""
    dedup = getattr(getattr(model, "roi_heads", None), "dedup", None)
    own = {id(p) for p in dedup.parameters()} if dedup is not None else set()
    params = [p for p in model.parameters() if p.requires_grad]
    remover_lr = tc.lr * tc.dedup_lr_factor
    detector: dict[str, Any] = {"params": [p for p in params if id(p) not in own]}
    remover: dict[str, Any] = {"params": [p for p in params if id(p) in own], "lr": remover_lr}
    lr, momentum, decay = tc.lr, tc.momentum, tc.weight_decay
    if not own:
        return torch.optim.SGD([detector], lr=lr, momentum=momentum, weight_decay=decay)
    if tc.dedup_optimizer == "sgd":
        return torch.optim.SGD([detector, remover], lr=lr, momentum=momentum, weight_decay=decay)
    return SGDWithAdamGroup(
        [detector], [remover], lr=lr, momentum=momentum, weight_decay=decay, adam_lr=remover_lr
    )
