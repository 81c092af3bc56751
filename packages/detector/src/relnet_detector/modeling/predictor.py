"""The box predictor: torchvision's ``FastRCNNPredictor``, or, for a head with ``box_dim > 0``
(``HeadConfig.box_feature="pre_relation"``), the same two linear layers reading their own parts
of the head's feature."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from relnet_heads import BoxHead


class SplitPredictor(nn.Module):
    """Class logits from the first ``cls_dim`` channels, box deltas from the last ``box_dim``.

    Args:
        cls_dim (int): channels the classifier reads.
        box_dim (int): channels the box regressor reads.
        num_classes (int): classes with the background (``C + 1``).
    """

    def __init__(self, cls_dim: int, box_dim: int, num_classes: int) -> None:
        super().__init__()
        self.cls_dim = cls_dim
        self.cls_score = nn.Linear(cls_dim, num_classes)
        self.bbox_pred = nn.Linear(box_dim, num_classes * 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` [R, cls_dim + box_dim] -> logits [R, C + 1], deltas [R, 4 (C + 1)]."""
        return self.cls_score(x[:, : self.cls_dim]), self.bbox_pred(x[:, self.cls_dim :])


def build_predictor(head: BoxHead, num_classes: int) -> nn.Module:
    """The predictor of ``head``'s features for ``num_classes`` classes with the background."""
    if head.box_dim:
        return SplitPredictor(head.out_dim - head.box_dim, head.box_dim, num_classes)
    predictor: nn.Module = FastRCNNPredictor(head.out_dim, num_classes)
    return predictor
