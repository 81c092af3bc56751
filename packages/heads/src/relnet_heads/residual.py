"""Table 2's "2fc+res {r1, r2}" baseline: residual blocks where the 2fc+RM head has relation
modules (paper §5.1, footnote 5: "each residual branch in a block has three 1024-d fc layers to
have similar complexity as an object relation module").

Order per fc, the same as :class:`relnet_heads.RelationHead`: ``fc -> block x r -> ReLU``; a block
is ``x + fc(relu(fc(relu(fc(x)))))``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .base import BoxHead
from .validation import check_block_counts, check_positive_int


class ResidualBlock(nn.Module):
    """``x + fc_c(relu(fc_b(relu(fc_a(x)))))``, three ``dim -> dim`` fc layers.

    Args:
        dim (int): the feature size.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[..., dim] -> Tensor[..., dim]."""
        return x + self.branch(x)  # type: ignore[no-any-return]


class ResidualHead(BoxHead):
    """2fc head with ``blocks[0]`` residual blocks after fc1 and ``blocks[1]`` after fc2.

    Boxes and key mask are checked for shape and otherwise ignored.

    Args:
        in_channels (int): channels of the pooled RoI features.
        resolution (int): their spatial size.
        hidden_dim (int): width of every fc; ``out_dim``.
        blocks (tuple[int, int]): residual blocks after fc1 and after fc2.
    """

    def __init__(
        self,
        in_channels: int,
        resolution: int,
        hidden_dim: int = 1024,
        blocks: tuple[int, int] = (1, 1),
    ) -> None:
        super().__init__(in_channels, resolution)
        self.out_dim = check_positive_int("hidden_dim", hidden_dim)
        blocks = check_block_counts("blocks", blocks)
        self.fc6 = nn.Linear(self.in_features, hidden_dim)
        self.fc7 = nn.Linear(hidden_dim, hidden_dim)
        self.fc6_blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(blocks[0]))
        self.fc7_blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(blocks[1]))

    def _forward(
        self, x: Tensor, boxes: Tensor, key_mask: Tensor | None, return_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        for fc, blocks in ((self.fc6, self.fc6_blocks), (self.fc7, self.fc7_blocks)):
            x = fc(x)  # [B, N, hidden_dim]
            for block in blocks:
                x = block(x)  # [B, N, hidden_dim]
            x = F.relu(x)
        return x, []
