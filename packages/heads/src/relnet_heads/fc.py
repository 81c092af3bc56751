"""The plain fully connected heads: 2fc (paper Eq. 9) and Table 2's baselines "2fc (wider)"
(a larger ``hidden_dim``) and "3fc"."""

from __future__ import annotations

import itertools

from torch import Tensor, nn
from torch.nn import functional as F

from .base import BoxHead
from .validation import check_positive_int


class FCHead(BoxHead):
    """``num_fc`` fully connected layers, each followed by ReLU (torchvision's ``TwoMLPHead`` at
    ``num_fc=2``, with its initialisation, PyTorch's default for ``nn.Linear``).

    Boxes and key mask are checked for shape and otherwise ignored: every object is independent.

    Args:
        in_channels (int): channels of the pooled RoI features.
        resolution (int): their spatial size.
        hidden_dim (int): width of every fc; also ``out_dim``.
        num_fc (int): 2 (Eq. 9) or 3 (Table 2, "3fc").

    Example:
        >>> head = FCHead(in_channels=8, resolution=7, hidden_dim=64)
        >>> head(torch.randn(2, 5, 8, 7, 7), torch.rand(2, 5, 4)).shape
        torch.Size([2, 5, 64])
    """

    def __init__(
        self, in_channels: int, resolution: int, hidden_dim: int = 1024, num_fc: int = 2
    ) -> None:
        super().__init__(in_channels, resolution)
        self.out_dim = check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_fc", num_fc)
        widths = [self.in_features] + [hidden_dim] * num_fc
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))

    def _forward(
        self, x: Tensor, boxes: Tensor, key_mask: Tensor | None, return_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        for fc in self.fcs:
            x = F.relu(fc(x))  # [B, N, hidden_dim]
        return x, []
