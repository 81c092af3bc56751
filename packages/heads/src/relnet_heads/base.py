"""The interface every instance head shares (paper §4.2): pooled RoI features in, one feature per
object out, with the proposal boxes and a key mask for the heads that relate objects."""

from __future__ import annotations

from typing import Literal, overload

from torch import Tensor, nn

from .validation import check_boxes_and_mask, check_positive_int, flatten_features


class BoxHead(nn.Module):
    """Base class of the heads: validates and flattens the input, then calls :meth:`_forward`.

    Args:
        in_channels (int): channels ``C`` of the pooled RoI features.
        resolution (int): their spatial size ``H = W`` (7 in the paper).

    Attributes:
        in_features (int): ``C * H * W``, the input size of the first fc.
        out_dim (int): the size of the per-object output feature.
        box_dim (int): how many of its last channels only the box regressor reads (0: the
            classifier and the regressor read the whole feature, as in the paper); the
            classifier then reads the first ``out_dim - box_dim``.
    """

    out_dim: int
    box_dim: int = 0

    def __init__(self, in_channels: int, resolution: int) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.resolution = check_positive_int("resolution", resolution)
        self.in_features = in_channels * resolution * resolution

    @overload
    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        *,
        return_weights: Literal[False] = False,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        *,
        return_weights: Literal[True],
    ) -> tuple[Tensor, list[Tensor]]: ...

    def forward(
        self,
        features: Tensor,
        boxes: Tensor,
        key_mask: Tensor | None = None,
        *,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """One feature per object.

        Args:
            features (Tensor[B, N, C, H, W] or Tensor[B, N, C * H * W]): pooled RoI features of
                each image's ``N`` objects (padded to a common ``N``).
            boxes (Tensor[B, N, 4]): the objects' boxes ``(x1, y1, x2, y2)`` in pixels; padding
                rows any finite box. Plain fc heads only check the shape.
            key_mask (Tensor[B, N], bool, optional): True where an object may serve as a key of
                the relation modules; False for padding and for the ground-truth boxes appended
                in training. A row that is not a key changes no other row's output.
            return_weights (bool): also return the relation weights of every relation module.

        Returns:
            Tensor[B, N, out_dim]; with ``return_weights``, also a list with one
            Tensor[B, N_r, N, N] per relation module (row = query, column = key), in the order
            the modules are applied (empty for heads without relation modules).
        """
        x = flatten_features(features, self.in_channels, self.resolution)  # [B, N, C*H*W]
        check_boxes_and_mask(x, boxes, key_mask)
        out, weights = self._forward(x, boxes, key_mask, return_weights)
        return (out, weights) if return_weights else out

    def _forward(
        self, x: Tensor, boxes: Tensor, key_mask: Tensor | None, return_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        """``x`` [B, N, C*H*W] -> ([B, N, out_dim], per-module weights)."""
        raise NotImplementedError


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
