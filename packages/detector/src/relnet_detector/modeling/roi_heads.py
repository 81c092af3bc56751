"""torchvision's ``RoIHeads`` with the two seams the paper needs (§4.2, §4.3, §4.4).

1. The box head gets the proposals of each image as a padded set ``[B, N, ...]`` with their boxes
   and a key mask: padding is never a key, nor in training the ground-truth boxes torchvision's
   ``add_gt_proposals`` appends (the authors' ``nongt``), so a relation head sees only what it
   would see at test time.
2. ``batched_nms`` in post-processing is replaced by the configured remover
   (:func:`relnet_detector.modeling.removers.remove_duplicates`); with ``"e2e"`` the roi heads
   own the duplicate removal network (``self.dedup``) and add its loss ``loss_dedup`` in training.
   That loss is computed as the authors do (all RoIs of an image, not the sampled ones): on each
   image's ``dedup_proposals`` highest-scoring RPN proposals, the set the remover meets at test
   time, run through the head with every proposal a key.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss

from relnet_dedup import DuplicateRemovalNetwork
from relnet_heads import BoxHead

from ..config import RemoverConfig
from .end_to_end import proposal_dedup_loss
from .padding import pad_boxes, pad_rows, unpad_rows
from .raw_output import decode_boxes, decode_raw
from .removers import RawDetections, check_model_remover

__all__ = ["BoxOutput", "RelationRoIHeads"]


class BoxOutput(NamedTuple):
    """The box branch on a set of RoIs: ``features`` [R, D] (the head's), ``class_logits``
    [R, C + 1], ``box_regression`` [R, 4 (C + 1)], and the relation ``weights`` (a list of
    [B, N_r, N, N], empty unless asked for)."""

    features: Tensor
    class_logits: Tensor
    box_regression: Tensor
    weights: list[Tensor]


class RelationRoIHeads(RoIHeads):  # type: ignore[misc]
    """Box branch of Faster R-CNN with a relation-aware head and a pluggable duplicate remover.

    Args:
        box_roi_pool (MultiScaleRoIAlign): pools ``[R, C, r, r]`` features of the proposals.
        box_head (BoxHead): a relnet head (``[B, N, C, r, r]``, boxes, key mask -> ``[B, N, D]``).
        box_predictor (nn.Module): ``[R, D]`` -> class logits ``[R, C + 1]`` and box deltas
            ``[R, 4 (C + 1)]`` (torchvision's ``FastRCNNPredictor``).
        remover (RemoverConfig): the duplicate remover of eval mode.
        dedup (DuplicateRemovalNetwork, optional): the end-to-end network; trained with the
            detector (``loss_dedup``) when given.
        dedup_proposals (int): in training, ``loss_dedup`` is computed on each image's this many
            highest-scoring proposals (the test-time count of the RPN), not on the sampled RoIs.
        **sampling: torchvision's ``fg_iou_thresh``, ``bg_iou_thresh``, ``batch_size_per_image``,
            ``positive_fraction``, ``bbox_reg_weights``.

    Attributes:
        dedup (DuplicateRemovalNetwork | None): the end-to-end network (in the state dict).
        dedup_steps (Tensor[] int64): training forwards that computed ``loss_dedup`` (a buffer;
            zero means the end-to-end network is untrained).
    """

    def __init__(
        self,
        box_roi_pool: nn.Module,
        box_head: BoxHead,
        box_predictor: nn.Module,
        *,
        remover: RemoverConfig,
        dedup: DuplicateRemovalNetwork | None = None,
        dedup_proposals: int = 1000,
        **sampling: Any,
    ) -> None:
        check_model_remover(remover)
        super().__init__(
            box_roi_pool,
            box_head,
            box_predictor,
            score_thresh=remover.score_threshold,
            nms_thresh=remover.nms_threshold,
            detections_per_img=remover.detections_per_img,
            **sampling,
        )
        self.remover = remover
        self.dedup = dedup
        self.dedup_proposals = dedup_proposals
        self.register_buffer("dedup_steps", torch.zeros((), dtype=torch.long))
        self.__dict__["_learned"] = None  # a separately trained network: not in the state dict

    @property
    def remover_network(self) -> DuplicateRemovalNetwork | None:
        """The network the current remover uses (``"learned"`` / ``"e2e"``), else None."""
        if self.remover.method == "e2e":
            return self.dedup
        if self.remover.method == "learned":
            learned: DuplicateRemovalNetwork | None = self.__dict__["_learned"]
            return learned
        return None

    def set_remover(
        self, remover: RemoverConfig, network: DuplicateRemovalNetwork | None = None
    ) -> None:
        """Use ``remover`` from now on; ``network`` is the separately trained one of
        ``"learned"`` (kept out of the state dict, moved with the module)."""
        check_model_remover(remover)
        if remover.method == "learned" and network is None:
            raise ValueError("remover 'learned' needs its trained network")
        if remover.method == "e2e" and self.dedup is None:
            raise ValueError("remover 'e2e' needs the end-to-end network, which this model lacks")
        self.remover = remover
        self.score_thresh = remover.score_threshold
        self.nms_thresh = remover.nms_threshold
        self.detections_per_img = remover.detections_per_img
        self.__dict__["_learned"] = network.eval() if network is not None else None

    def _apply(self, fn: Any, recurse: bool = True) -> RelationRoIHeads:
        super()._apply(fn, recurse)
        learned = self.__dict__["_learned"]
        if learned is not None:
            learned._apply(fn, recurse)
        return self

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """torchvision's training contract: ``([], losses)`` with ``loss_classifier``,
        ``loss_box_reg`` (and ``loss_dedup`` with an end-to-end network). Training mode only: in
        eval mode :class:`~relnet_detector.RelationDetector` calls :meth:`raw_detections` and
        the remover (:func:`~relnet_detector.remove_duplicates_batch`) instead.

        Args:
            features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
            proposals (list[Tensor[N_i, 4]]): the RPN's boxes of each image.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
            targets (list[dict[str, Tensor]], optional): ``boxes`` [G_i, 4] float and ``labels``
                [G_i] int64 of each image; required.

        Raises:
            ValueError: eval mode, or no targets.
        """
        if not self.training:
            raise ValueError(
                "RelationRoIHeads.forward computes the training losses; in eval mode use "
                "raw_detections and remove_duplicates_batch (as RelationDetector.forward does)"
            )
        if targets is None:
            raise ValueError("targets should not be None in training")
        for i, t in enumerate(targets):
            if not t["boxes"].is_floating_point():
                raise TypeError(
                    f"target boxes must be floating, got {t['boxes'].dtype} (image {i})"
                )
            if t["labels"].dtype != torch.int64:
                raise TypeError(f"target labels must be int64, got {t['labels'].dtype} (image {i})")
        sampled, labels, regression_targets, is_gt = self.sample_proposals(proposals, targets)
        out = self.run_box_head(features, sampled, image_shapes, is_gt)
        class_logits, box_regression = out.class_logits, out.box_regression
        loss_classifier, loss_box_reg = fastrcnn_loss(
            class_logits, box_regression, labels, regression_targets
        )
        losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        if self.dedup is not None:
            losses["loss_dedup"] = self.dedup_loss(features, proposals, image_shapes, targets)
            self.dedup_steps += 1
        return [], losses

    def dedup_loss(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
    ) -> Tensor:
        """``loss_dedup`` (§4.4) on each image's ``dedup_proposals`` highest-scoring proposals
        (:func:`relnet_detector.modeling.end_to_end.proposal_dedup_loss`)."""
        return proposal_dedup_loss(self, features, proposals, image_shapes, targets)

    def sample_proposals(
        self, proposals: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """torchvision's ``select_training_samples`` that also says which sampled RoIs are the
        appended ground truths.

        Returns:
            (list[Tensor[S_i, 4]], list[Tensor[S_i]], list[Tensor[S_i, 4]], list[Tensor[S_i]]):
            the sampled RoIs, their labels (0 = background), regression targets, and a bool that
            is True for the ground-truth boxes appended by ``add_gt_proposals``.
        """
        self.check_targets(targets)
        dtype, device = proposals[0].dtype, proposals[0].device
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        num_proposals = [p.shape[0] for p in proposals]
        proposals = self.add_gt_proposals(proposals, gt_boxes)
        matched_idxs, labels = self.assign_targets_to_proposals(proposals, gt_boxes, gt_labels)
        sampled = self.subsample(labels)
        matched_gt_boxes, is_gt = [], []
        for i, inds in enumerate(sampled):
            proposals[i], labels[i] = proposals[i][inds], labels[i][inds]
            gt = (
                gt_boxes[i]
                if gt_boxes[i].numel()
                else torch.zeros(1, 4, dtype=dtype, device=device)
            )
            matched_gt_boxes.append(gt[matched_idxs[i][inds]])
            is_gt.append(inds >= num_proposals[i])
        regression_targets = self.box_coder.encode(matched_gt_boxes, proposals)
        return proposals, labels, list(regression_targets), is_gt

    def run_box_head(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        is_gt: list[Tensor] | None = None,
        *,
        pool_grad: bool | None = None,
        return_weights: bool = False,
    ) -> BoxOutput:
        """Pool the RoIs' features, run the box head on them and the predictor on its output:
        the one path of training, the end-to-end loss, inference and :mod:`explain`.

        Args:
            features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
            proposals (list[Tensor[N_i, 4]]): the RoIs of each image.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
            is_gt (list[Tensor[N_i]] bool, optional): appended ground truths (not keys).
            pool_grad (bool, optional): pool with the gradient on or off (None: as around).
            return_weights (bool): also return the relation weights (Fig. 4).
        """
        grad = contextlib.nullcontext() if pool_grad is None else torch.set_grad_enabled(pool_grad)
        with grad:
            box_features = self.box_roi_pool(features, proposals, image_shapes)  # [R, C, r, r]
        weights: list[Tensor] = []
        if return_weights:
            head_features, weights = self.head_features(
                box_features, proposals, is_gt, return_weights=True
            )  # [R, D], [B, N_r, N, N] each
        else:
            head_features = self.head_features(box_features, proposals, is_gt)  # [R, D]
        class_logits, box_regression = self.box_predictor(head_features)
        return BoxOutput(head_features, class_logits, box_regression, weights)

    def head_features(
        self,
        box_features: Tensor,
        proposals: list[Tensor],
        is_gt: list[Tensor] | None = None,
        *,
        return_weights: bool = False,
    ) -> Any:
        """Run the box head on the images' RoIs as a padded batch.

        Args:
            box_features (Tensor[R, C, r, r]): pooled features, image after image.
            proposals (list[Tensor[N_i, 4]]): the RoIs of each image (``R = sum N_i``).
            is_gt (list[Tensor[N_i]] bool, optional): appended ground truths (not keys).
            return_weights (bool): also return the relation weights (for Fig. 4).

        Returns:
            Tensor[R, D]: the head's feature of every RoI; with ``return_weights`` also a list of
            Tensor[B, N_r, N, N] (``N = max N_i``, padded rows and columns zero).
        """
        counts = [p.shape[0] for p in proposals]
        x, valid = pad_rows(box_features, counts)  # [B, N, C, r, r], [B, N]
        boxes = pad_boxes(torch.cat(proposals), counts)  # [B, N, 4]
        key_mask: Tensor | None = valid
        if is_gt is not None:
            key_mask = valid & ~pad_rows(torch.cat(is_gt), counts, False)[0]  # [B, N]
        if key_mask is not None and bool(key_mask.all()):
            key_mask = None  # nothing to mask: the relation modules' fast path
        out, weights = self.box_head(x, boxes, key_mask, return_weights=True)  # [B, N, D]
        out = unpad_rows(out, valid)  # [R, D]
        return (out, weights) if return_weights else out

    def decode_boxes(
        self,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        counts: list[int],
    ) -> Tensor:
        """Class-specific boxes ``[R, C + 1, 4]`` from the deltas, clipped to each image
        (:func:`relnet_detector.modeling.raw_output.decode_boxes`)."""
        return decode_boxes(self.box_coder, box_regression, proposals, image_shapes, counts)

    def raw_detections(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        score_threshold: float | None = None,
    ) -> list[RawDetections]:
        """Every class-specific box of every proposal with ``s0 > score_threshold``, per image
        (the resized image's pixels), before duplicate removal.

        Args:
            features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
            proposals (list[Tensor[N_i, 4]]): the RPN's boxes of each image.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
            score_threshold (float, optional): the remover's ``score_threshold`` if None.
        """
        threshold = self.remover.score_threshold if score_threshold is None else score_threshold
        out = self.run_box_head(features, proposals, image_shapes)
        return self.decode_raw(
            out.class_logits, out.box_regression, proposals, image_shapes, out.features, threshold
        )

    def decode_raw(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        head_features: Tensor,
        score_threshold: float,
    ) -> list[RawDetections]:
        """The raw detections of the predictor's output
        (:func:`relnet_detector.modeling.raw_output.decode_raw`)."""
        return decode_raw(
            self.box_coder,
            class_logits,
            box_regression,
            proposals,
            image_shapes,
            head_features,
            score_threshold,
        )
