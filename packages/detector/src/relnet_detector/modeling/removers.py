"""Duplicate removal on a detector's raw per-class output (paper §4.3, §4.4, §5.2 Table 4).

The network produces, per image, every class-specific box of every RoI with its score ``s0``
(:class:`RawDetections`); :func:`remove_duplicates` applies one remover to it: NMS, Soft-NMS
(Bodla et al. 2017), the learned relation network (separately trained, or end to end) or, for
evaluation only, the oracle that knows the ground truth (``relnet_dedup.oracle_batched_nms``: the
ceiling of a remover that keeps ``s0``). The evaluation runs the network once and applies every
remover to the same raw output; the detector's eval-mode ``forward`` is the same two steps with
its own remover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchvision
from torch import Tensor

from relnet_core.checks import check_choice, check_float, check_int
from relnet_dedup import (
    DuplicateRemovalNetwork,
    batched_nms,
    batched_soft_nms,
    learned_batched_nms,
    oracle_batched_nms,
)

from ..config import REMOVER_METHODS, RemoverConfig

__all__ = [
    "SOFT_NMS_PRUNE",
    "GroundTruth",
    "RawDetections",
    "check_model_remover",
    "check_remover",
    "remove_duplicates",
    "remove_duplicates_batch",
]

# Soft-NMS drops a box once its decayed score falls below this (Bodla et al.'s 0.001).
SOFT_NMS_PRUNE = 0.001


@dataclass
class RawDetections:
    """One image's detections before duplicate removal.

    Attributes:
        boxes (Tensor[M, 4]): class-specific boxes ``(x1, y1, x2, y2)``, clipped to the image.
        scores (Tensor[M]): classification scores ``s0`` (softmax over classes), all above the
            score threshold the raw output was made with.
        labels (Tensor[M], int64): contiguous labels ``1 .. C`` (0 is the background).
        roi_index (Tensor[M], int64): the RoI each detection comes from, a row of
            ``roi_features``.
        roi_features (Tensor[R, D]): the head's output feature of every RoI of the image (the
            learned remover's appearance input).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    roi_index: Tensor
    roi_features: Tensor

    @property
    def features(self) -> Tensor:
        """Tensor[M, D]: the head's feature of each detection's RoI."""
        return self.roi_features[self.roi_index]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, keep: Tensor) -> RawDetections:
        """The detections at ``keep`` (indices or a bool mask), RoI features shared."""
        return RawDetections(
            self.boxes[keep],
            self.scores[keep],
            self.labels[keep],
            self.roi_index[keep],
            self.roi_features,
        )

    def to(self, device: torch.device | str) -> RawDetections:
        """A copy on ``device``."""
        return RawDetections(
            self.boxes.to(device),
            self.scores.to(device),
            self.labels.to(device),
            self.roi_index.to(device),
            self.roi_features.to(device),
        )


@dataclass(frozen=True)
class GroundTruth:
    """One image's ground truth, for the oracle remover: ``boxes`` [G, 4] ``(x1, y1, x2, y2)``
    in the raw detections' pixels and ``labels`` [G] int64 ``1 .. C``."""

    boxes: Tensor
    labels: Tensor


def remove_duplicates(
    raw: RawDetections,
    remover: RemoverConfig,
    network: DuplicateRemovalNetwork | None = None,
    ground_truth: GroundTruth | None = None,
) -> dict[str, Tensor]:
    """Apply one duplicate remover to one image's raw detections.

    Detections with ``s0 <= remover.score_threshold`` are dropped first; then per class:

    - ``"nms"``: greedy NMS at ``nms_threshold``; scores unchanged (torchvision's post-processing).
    - ``"soft-nms"``: Gaussian Soft-NMS with ``soft_nms_sigma``; the decayed scores.
    - ``"learned"`` / ``"e2e"``: the relation network over at most ``first_n`` detections per
      class; final score ``s0 * s1`` (``s1`` of ``eta``, or the mean over the thresholds).
    - ``"oracle"``: per ground truth the detection of its class that matches it best (greedy in
      IoU, from 0.5), with its ``s0``; everything else dropped.

    Args:
        raw (RawDetections): the network's raw output for one image.
        remover (RemoverConfig): which remover and its settings.
        network (DuplicateRemovalNetwork, optional): required for ``"learned"`` and ``"e2e"``;
            sees the boxes, scores and, if it uses appearance, ``raw.features``.
        ground_truth (GroundTruth, optional): required for ``"oracle"``.

    Returns:
        dict[str, Tensor]: ``boxes`` [K, 4], ``labels`` [K] int64, ``scores`` [K], sorted by
        descending final score, ``K <= remover.detections_per_img``.

    Raises:
        ValueError: a bad remover setting, or a learned remover without a network or with one
            whose feature size differs from the raw features'.
    """
    truths = None if ground_truth is None else [ground_truth]
    return remove_duplicates_batch([raw], remover, network, truths)[0]


def remove_duplicates_batch(
    raws: Sequence[RawDetections],
    remover: RemoverConfig,
    network: DuplicateRemovalNetwork | None = None,
    ground_truth: Sequence[GroundTruth] | None = None,
) -> list[dict[str, Tensor]]:
    """:func:`remove_duplicates` of several images in one call of the remover.

    Each (image, class) is its own group, so the result per image is the one
    :func:`remove_duplicates` gives (up to float rounding of the learned network's batched
    matrix products); one call instead of one per image saves the fixed costs of Soft-NMS and
    the learned network. NMS runs per image (torchvision's fast path is for one image's boxes).

    Args:
        raws (sequence of RawDetections): the images' raw detections.
        remover (RemoverConfig): which remover and its settings.
        network (DuplicateRemovalNetwork, optional): for ``"learned"`` and ``"e2e"``.
        ground_truth (sequence of GroundTruth, optional): one per image, for ``"oracle"``.

    Returns:
        list[dict[str, Tensor]]: per image as :func:`remove_duplicates`.
    """
    check_remover(remover)
    if not raws:
        return []
    kept = [raw.select(raw.scores > remover.score_threshold) for raw in raws]
    if remover.method == "nms":  # per image: torchvision's NMS is fastest on one image's boxes
        return [_nms(raw, remover) for raw in kept]
    boxes = torch.cat([raw.boxes for raw in kept])  # [M, 4]
    scores = torch.cat([raw.scores for raw in kept])  # [M]
    labels = torch.cat([raw.labels for raw in kept])  # [M]
    counts = torch.tensor([len(raw) for raw in kept], device=scores.device)  # [B]
    image = torch.repeat_interleave(torch.arange(len(kept), device=scores.device), counts)  # [M]
    span = int(labels.max()) + 1 if labels.numel() else 1
    groups = image * span + labels  # [M]: one group per (image, class)
    if remover.method == "soft-nms":
        keep, final = batched_soft_nms(
            boxes, scores, groups, sigma=remover.soft_nms_sigma, score_threshold=SOFT_NMS_PRUNE
        )
    elif remover.method == "oracle":
        if ground_truth is None or len(ground_truth) != len(kept):
            got = "none" if ground_truth is None else len(ground_truth)
            raise ValueError(
                f"remover 'oracle' needs the ground truth of each of the {len(kept)} images, "
                f"got {got}"
            )
        gt_boxes = torch.cat([t.boxes.reshape(-1, 4) for t in ground_truth]).to(boxes)  # [G, 4]
        gt_labels = torch.cat([t.labels.reshape(-1) for t in ground_truth]).to(labels)  # [G]
        gt_counts = torch.tensor([t.labels.numel() for t in ground_truth], device=labels.device)
        gt_image = torch.repeat_interleave(torch.arange(len(kept), device=labels.device), gt_counts)
        span = max(span, int(gt_labels.max()) + 1 if gt_labels.numel() else 1)
        keep, final = oracle_batched_nms(
            boxes, scores, image * span + labels, gt_boxes, gt_image * span + gt_labels
        )
    else:
        if network is None:
            raise ValueError(f"remover {remover.method!r} needs its duplicate removal network")
        features = None
        if network.config.use_appearance:
            features = torch.cat([raw.features for raw in kept])  # [M, D]
        keep, final = learned_batched_nms(
            boxes,
            scores,
            groups,
            network,
            features,
            eta=remover.eta,
            score_threshold=remover.score_threshold,
            first_n=remover.first_n,
        )
    # keep is sorted by descending final score over all images: split it, order kept, and cap
    out = []
    for i in range(len(kept)):
        mine = image[keep] == i  # [K]
        k, f = keep[mine][: remover.detections_per_img], final[mine][: remover.detections_per_img]
        out.append({"boxes": boxes[k], "labels": labels[k], "scores": f})
    return out


def _nms(raw: RawDetections, remover: RemoverConfig) -> dict[str, Tensor]:
    # a trace (relnet_detector.export) takes torchvision's, whose class offset is a tensor (ONNX
    # NonMaxSuppression): relnet-dedup's picks it as a Python float of the traced image's boxes
    nms = torchvision.ops.batched_nms if torchvision._is_tracing() else batched_nms
    keep = nms(raw.boxes, raw.scores, raw.labels, remover.nms_threshold)  # [K]
    keep = keep[: remover.detections_per_img]
    return {"boxes": raw.boxes[keep], "labels": raw.labels[keep], "scores": raw.scores[keep]}


def check_model_remover(remover: RemoverConfig) -> None:
    """:func:`check_remover`, and not ``"oracle"``: a model has no ground truth at test time."""
    check_remover(remover)
    if remover.method == "oracle":
        raise ValueError(
            "remover 'oracle' needs the ground truth: it is for evaluation only "
            "(evaluate(..., removers=[RemoverConfig(method='oracle'), ...])), not a model's remover"
        )


def check_remover(remover: RemoverConfig) -> None:
    """Raise ``ValueError`` naming the field unless ``remover``'s settings are usable."""
    if not isinstance(remover, RemoverConfig):
        raise ValueError(f"remover must be a RemoverConfig, got {type(remover).__name__}")
    check_choice("remover.method", remover.method, REMOVER_METHODS)
    check_float("remover.score_threshold", remover.score_threshold, low=0.0, high=1.0)
    check_float("remover.nms_threshold", remover.nms_threshold, low=0.0, high=1.0)
    check_float("remover.soft_nms_sigma", remover.soft_nms_sigma, low=0.0, low_open=True)
    check_int("remover.detections_per_img", remover.detections_per_img, low=1)
    check_int("remover.first_n", remover.first_n, low=1)
    if remover.eta is not None:
        check_float("remover.eta", remover.eta, low=0.0, high=1.0, low_open=True)
