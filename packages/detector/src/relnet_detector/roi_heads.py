"""torchvision's ``RoIHeads`` with the two seams the paper needs (§4.2, §4.3, §4.4).

1. The box head gets the proposals of each image as a padded set ``[B, N, ...]`` with their boxes
   and a key mask: padding is never a key, nor in training the ground-truth boxes torchvision's
   ``add_gt_proposals`` appends (the authors' ``nongt``), so a relation head sees only what it
   would see at test time.
2. ``batched_nms`` in post-processing is replaced by the configured remover
   (:func:`relnet_detector.removers.remove_duplicates`); with ``"e2e"`` the roi heads own the
   duplicate removal network (``self.dedup``) and add its loss ``loss_dedup`` in training.
   That loss is computed as the authors do (all RoIs of an image, not the sampled ones): on each
   image's ``dedup_proposals`` highest-scoring RPN proposals, the set the remover meets at test
   time, run through the head with every proposal a key.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.ops import boxes as box_ops

from relnet_dedup import DuplicateRemovalNetwork
from relnet_heads import BoxHead

from .config import RemoverConfig
from .end_to_end import end_to_end_loss
from .padding import pad_boxes, pad_rows, unpad_rows
from .removers import RawDetections, check_model_remover, remove_duplicates_batch

MIN_BOX_SIZE = 1e-2  # torchvision's post-processing drops boxes smaller than this


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
        """torchvision's contract: in training ``([], losses)`` with ``loss_classifier``,
        ``loss_box_reg`` (and ``loss_dedup`` with an end-to-end network); in eval
        ``(detections, {})``, one dict of ``boxes`` [K, 4] (in the resized image's pixels),
        ``labels`` [K], ``scores`` [K] per image.

        Args:
            features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
            proposals (list[Tensor[N_i, 4]]): the RPN's boxes of each image.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
            targets (list[dict[str, Tensor]], optional): ``boxes`` [G_i, 4] float and ``labels``
                [G_i] int64 of each image; required in training.
        """
        if not self.training:
            raws = self.raw_detections(features, proposals, image_shapes)
            return remove_duplicates_batch(raws, self.remover, self.remover_network), {}
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
        box_features = self.box_roi_pool(features, sampled, image_shapes)  # [R, C, r, r]
        head_features = self.head_features(box_features, sampled, is_gt)  # [R, D]
        class_logits, box_regression = self.box_predictor(head_features)
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
        """``loss_dedup`` (§4.4) on each image's ``dedup_proposals`` highest-scoring proposals.

        The head runs on them as at test time (every proposal a key) and the end-to-end network
        on their class-specific boxes (:func:`relnet_detector.end_to_end.end_to_end_loss`): it
        learns on the crowd of duplicates it will meet at test time, which the sampled RoIs
        (a quarter positives, a few per object) do not hold. The gradient reaches the head
        through the appearance feature only, and stops at the pooled features: the backbone
        learns from the RPN and detection losses (RoIAlign's backward for these extra RoIs
        would cost about a third of a CPU training step).

        Args:
            features (dict[str, Tensor[B, F, H_l, W_l]]): the FPN levels.
            proposals (list[Tensor[N_i, 4]]): the RPN's boxes of each image, by score.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)`` after resizing.
            targets (list[dict[str, Tensor]]): ``boxes`` and ``labels`` of each image.
        """
        assert self.dedup is not None
        top = [p[: self.dedup_proposals] for p in proposals]  # list of [K_i, 4]
        counts = [p.shape[0] for p in top]
        with torch.set_grad_enabled(self.remover.e2e_backbone_gradient):
            box_features = self.box_roi_pool(features, top, image_shapes)  # [K, C, r, r]
        head_features = self.head_features(box_features, top)  # [K, D]
        class_logits, box_regression = self.box_predictor(head_features)
        device = class_logits.device
        return end_to_end_loss(
            self.dedup,
            class_logits,
            self.decode_boxes(box_regression, top, image_shapes, counts),
            head_features,
            torch.zeros(sum(counts), dtype=torch.bool, device=device),
            _image_index(counts, device),
            [t["boxes"] for t in targets],
            [t["labels"] for t in targets],
            score_threshold=self.remover.score_threshold,
            first_n=self.remover.first_n,
            detach_scores=self.remover.e2e_detach_scores,
        )

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
        """Class-specific boxes ``[R, C + 1, 4]`` from the deltas, clipped to each image."""
        boxes = self.box_coder.decode(box_regression, proposals)  # [R, C+1, 4]
        sizes = torch.tensor(
            [(w, h) for (h, w), n in zip(image_shapes, counts, strict=True) for _ in range(n)],
            dtype=boxes.dtype,
            device=boxes.device,
        ).reshape(-1, 1, 2)  # [R, 1, (W, H)]
        low = boxes.new_zeros(())
        x = torch.minimum(boxes[..., 0::2].clamp(min=low), sizes[..., :1])  # [R, C+1, 2]
        y = torch.minimum(boxes[..., 1::2].clamp(min=low), sizes[..., 1:])  # [R, C+1, 2]
        return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)  # [R, C+1, 4]

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
        box_features = self.box_roi_pool(features, proposals, image_shapes)  # [R, C, r, r]
        head_features = self.head_features(box_features, proposals)  # [R, D]
        class_logits, box_regression = self.box_predictor(head_features)
        return self.decode_raw(
            class_logits, box_regression, proposals, image_shapes, head_features, threshold
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
        """torchvision's post-processing up to (not including) ``batched_nms``: decode, clip,
        drop the background, flatten every (RoI, class), keep ``s0 > score_threshold`` and boxes
        of at least ``MIN_BOX_SIZE``.

        Args:
            class_logits (Tensor[R, C + 1]), box_regression (Tensor[R, 4 (C + 1)]): the
                predictor's output.
            proposals (list[Tensor[N_i, 4]]): the RoIs of each image.
            image_shapes (list[tuple[int, int]]): each image's ``(H, W)``.
            head_features (Tensor[R, D]): the head's feature of every RoI.
            score_threshold (float): the score threshold.
        """
        counts = [p.shape[0] for p in proposals]
        boxes: Tensor = self.decode_boxes(box_regression, proposals, image_shapes, counts)
        scores = torch.softmax(class_logits, dim=-1)  # [R, C+1]
        out = []
        for b, s, f in zip(
            torch.split(boxes, counts),
            torch.split(scores, counts),
            torch.split(head_features, counts),
            strict=True,
        ):
            n, c = s.shape[0], s.shape[1] - 1
            labels = torch.arange(1, c + 1, device=s.device).expand(n, c).reshape(-1)  # [N*C]
            roi = torch.arange(n, device=s.device)[:, None].expand(n, c).reshape(-1)  # [N*C]
            flat_boxes = b[:, 1:].reshape(-1, 4)  # [N*C, 4], row r * C + c - 1
            flat_scores = s[:, 1:].reshape(-1)  # [N*C]
            keep = torch.where(flat_scores > score_threshold)[0]
            keep = keep[box_ops.remove_small_boxes(flat_boxes[keep], min_size=MIN_BOX_SIZE)]
            out.append(
                RawDetections(flat_boxes[keep], flat_scores[keep], labels[keep], roi[keep], f)
            )
        return out

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        box_features: Tensor | None = None,
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """torchvision's post-processing with the configured remover in place of
        ``batched_nms``; ``box_features`` ([R, D], the head's output) is needed by a learned
        remover that uses appearance."""
        if box_features is None:
            box_features = class_logits.new_zeros(class_logits.shape[0], 0)
        raws = self.decode_raw(
            class_logits,
            box_regression,
            proposals,
            image_shapes,
            box_features,
            self.remover.score_threshold,
        )
        results = remove_duplicates_batch(raws, self.remover, self.remover_network)
        return (
            [r["boxes"] for r in results],
            [r["scores"] for r in results],
            [r["labels"] for r in results],
        )


def _image_index(counts: list[int], device: torch.device) -> Tensor:
    """Tensor[sum counts] int64: the image of every row."""
    return torch.repeat_interleave(
        torch.arange(len(counts), device=device), torch.tensor(counts, device=device)
    )
