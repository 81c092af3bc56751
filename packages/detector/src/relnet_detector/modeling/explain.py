"""Which objects a detection attends to: the relation weights behind the paper's Fig. 4.

:func:`relation_weights` runs the network once on one image and returns its detections (after the
model's duplicate remover), the RoI each detection comes from, every RoI's best class and box,
and the weights ``w^{mn,r}`` (Eq. 3) of every relation module of the box head over the RoIs.
It is ``relnet explain``'s library half. (It lives with the model, not the evaluation: it reads
the network's internals and needs no ground truth.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.models.detection.transform import resize_boxes

from .checks import check_images
from .model import RelationDetector
from .removers import RawDetections, remove_duplicates

__all__ = ["RelationWeights", "relation_weights", "top_related"]


@dataclass(frozen=True)
class RelationWeights:
    """One image's detections and the relation weights over its RoIs.

    Attributes:
        detections (dict[str, Tensor]): ``boxes`` [K, 4] (original image pixels), ``labels``
            [K], ``scores`` [K] after the model's remover, highest score first (as ``model``'s
            eval output).
        roi_index (Tensor[K] int64): the RoI (row of ``roi_boxes`` and of the weights) each
            detection comes from.
        roi_boxes (Tensor[N, 4]): each RoI's box for its most likely class, original pixels.
        roi_labels (Tensor[N] int64): each RoI's most likely class (``1 .. C``).
        weights (list[Tensor[N_r, N, N]]): per relation module in the order they are applied,
            row = the object updated (query), column = the key; rows sum to 1.
        modules (list[str]): a name per module, e.g. ``"fc1 relation module 1"``.
    """

    detections: dict[str, Tensor]
    roi_index: Tensor
    roi_boxes: Tensor
    roi_labels: Tensor
    weights: list[Tensor]
    modules: list[str]


@torch.no_grad()
def relation_weights(model: RelationDetector, image: Tensor) -> RelationWeights:
    """Detections and relation weights of ``model`` on one image (eval mode).

    Args:
        model (RelationDetector): the detector, in eval mode.
        image (Tensor[3, H, W]): float image in ``[0, 1]`` on the model's device.

    Returns:
        RelationWeights: its ``weights`` list is empty for a head without relation modules.

    Raises:
        ValueError: the model is in training mode, or ``image`` is not a ``[3, H, W]`` floating
            tensor.
    """
    if model.training:
        raise ValueError("relation_weights needs eval mode: call model.eval() first")
    check_images([image])
    heads = model.roi_heads
    original = (int(image.shape[-2]), int(image.shape[-1]))
    batch, _ = model.transform([image])
    size = batch.image_sizes[0]
    features = model.backbone(batch.tensors)
    proposals, _ = model.rpn(batch, features)
    out = heads.run_box_head(features, proposals, batch.image_sizes, return_weights=True)
    roi_features, logits, deltas, weights = out  # [N, D], [N, C+1], [N, 4 (C+1)], [1, Nr, N, N]
    raw: RawDetections = heads.decode_raw(
        logits, deltas, proposals, batch.image_sizes, roi_features, model.remover.score_threshold
    )[0]
    raw.boxes = resize_boxes(raw.boxes, size, original)
    detections = remove_duplicates(raw, model.remover, model.dedup_network)

    n = proposals[0].shape[0]
    boxes = heads.decode_boxes(deltas, proposals, batch.image_sizes, [n])  # [N, C+1, 4]
    roi_labels = logits[:, 1:].argmax(dim=1) + 1  # [N]
    roi_boxes = boxes[torch.arange(n, device=boxes.device), roi_labels]  # [N, 4]
    config = model.config.head
    modules = [
        f"fc{fc} relation module {i + 1}"
        for fc, count in ((1, len(config.fc1_relations)), (2, len(config.fc2_relations)))
        for i in range(count)
    ]
    return RelationWeights(
        detections=detections,
        roi_index=raw.roi_index[_source_rows(raw, detections)],
        roi_boxes=resize_boxes(roi_boxes, size, original),
        roi_labels=roi_labels,
        weights=[w[0, :, :n, :n] for w in weights],  # [N_r, N, N] each
        modules=modules if weights else [],
    )


def top_related(
    found: RelationWeights, detection: int, module: int, relation: int | None, top: int
) -> tuple[Tensor, Tensor]:
    """The ``top`` RoIs that detection ``detection`` attends to most in relation module
    ``module``: relation ``relation``'s weights from its RoI, or their sum over the relations
    (``None``); its own RoI is left out. Ties go to the lower RoI index.

    Returns:
        (Tensor[k] int64, Tensor[k]): the RoIs (rows of ``found.roi_boxes``) and their weights,
        highest first; ``k = min(top, N - 1)``.

    Raises:
        ValueError: ``detection``, ``module`` or ``relation`` out of range (naming the range),
            or ``top`` under 1.
    """
    count, modules = len(found.detections["scores"]), len(found.weights)
    if not 0 <= detection < count:
        raise ValueError(f"detection {detection}: the image has {count} detections")
    if not 0 <= module < modules:
        raise ValueError(f"module {module}: the head has {modules} relation modules")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    reference = int(found.roi_index[detection])
    weights = found.weights[module][:, reference, :]  # [N_r, N]
    if relation is not None and not 0 <= relation < weights.shape[0]:
        raise ValueError(f"relation {relation}: module {module} has {weights.shape[0]} relations")
    row = (weights[relation] if relation is not None else weights.sum(0)).clone()  # [N]
    row[reference] = float("-inf")  # the reference itself is not a related object
    k = min(top, row.numel() - 1)
    # a stable sort: equal weights in RoI order, the same on every device
    order = torch.sort(row, descending=True, stable=True).indices[:k]  # [k]
    return order, row[order]


def _source_rows(raw: RawDetections, detections: dict[str, Tensor]) -> Tensor:
    """Tensor[K]: the row of ``raw`` each detection is (the removers copy boxes and labels
    bit for bit, so equality finds it; the first row wins among identical ones)."""
    same = (detections["boxes"][:, None, :] == raw.boxes[None, :, :]).all(-1)  # [K, M]
    same &= detections["labels"][:, None] == raw.labels[None, :]  # [K, M]
    return same.int().argmax(dim=1)  # [K]
