"""The oracle duplicate remover: the ceiling of any remover that keeps the scores ``s0``.

Given the ground truth, per group (one class of one image) each ground-truth box keeps the one
detection that matches it best and every other detection is dropped. The matching is one to one
and greedy in descending IoU: the pair of highest IoU is matched first, then the highest of the
pairs whose detection and ground truth are both still free, and so on, down to ``iou_threshold``
(0.5, the lowest IoU at which COCO counts a detection as correct). A matched detection keeps its
score. So nothing a remover keeps is a duplicate or a false positive, every ground truth that some
detection reaches at ``iou_threshold`` is found, and found by its best-localised detection.

What is left below 100 AP is the network's: ground truths that no detection reaches (recall),
the IoU of the best detection (localisation, AP75 and above) and the order of the scores across
groups and images (a ground truth found with IoU 0.6 at a higher score than one found with IoU
0.9 costs precision at the thresholds above 0.6). A remover that rescores (the learned one's
``s0 * s1``) can reorder the kept detections and so, in principle, pass this oracle.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``w = x2 - x1``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from relnet_geometry import box_iou

from .._checks import check_box_matrix, check_detections, check_group_ids, check_threshold


@torch.no_grad()
def oracle_batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    gt_boxes: Tensor,
    gt_idxs: Tensor,
    iou_threshold: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """The oracle remover, shaped like ``torchvision.ops.batched_nms`` plus the ground truth.

    Args:
        boxes (Tensor[N, 4]): detections ``(x1, y1, x2, y2)``, floating, finite.
        scores (Tensor[N]): their scores ``s0``, floating, finite.
        idxs (Tensor[N], int): group of each detection (the class, or ``image * C + class``).
        gt_boxes (Tensor[G, 4]): ground-truth boxes ``(x1, y1, x2, y2)``.
        gt_idxs (Tensor[G], int): group of each ground truth, in the ids of ``idxs``.
        iou_threshold (float): a detection can match a ground truth of its group with IoU
            ``>= iou_threshold``, in ``(0, 1]``.

    Returns:
        tuple[Tensor[K], Tensor[K]]: indices into the input of the kept detections (one per
        matched ground truth, ``K <= min(N, G)``) sorted by descending score (equal scores:
        lower index first), and their scores, unchanged.

    Example:
        >>> boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 0, 10, 10], [0.0, 0, 10, 9]])
        >>> keep, s = oracle_batched_nms(
        ...     boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 0]),
        ...     torch.tensor([[0.0, 0.0, 10.0, 9.5]]), torch.tensor([0]))
        >>> keep.tolist()
        [2]
    """
    check_detections(boxes, scores, idxs)
    check_box_matrix("gt_boxes", gt_boxes)
    check_group_ids("gt_idxs", gt_idxs, gt_boxes, "gt_boxes")
    if gt_boxes.device != boxes.device:
        raise ValueError(f"gt_boxes is on {gt_boxes.device} but boxes on {boxes.device}")
    threshold = check_threshold("iou_threshold", iou_threshold, 0.0, 1.0)
    if threshold == 0.0:
        raise ValueError("iou_threshold must be in (0, 1], got 0.0")
    matched = greedy_iou_matching(boxes, idxs, gt_boxes, gt_idxs, threshold)  # [G]
    kept = matched[matched >= 0]  # [K]
    kept = kept[torch.sort(kept).indices]  # index order, so that equal scores keep it
    order = torch.sort(scores[kept], descending=True, stable=True).indices
    return kept[order], scores[kept[order]]


def greedy_iou_matching(
    boxes: Tensor, idxs: Tensor, gt_boxes: Tensor, gt_idxs: Tensor, iou_threshold: float
) -> Tensor:
    """One-to-one matching of ground truths to detections of their group, greedy in IoU.

    Solved in rounds without a loop over pairs: in each round every free ground truth and free
    detection whose best free partner is each other (the pair beats every other pair of either,
    ties to the lower index) is matched. Such a pair is the one the greedy order (highest IoU
    first) takes, so the rounds give the greedy matching.

    Args:
        boxes (Tensor[N, 4]), idxs (Tensor[N]): detections and their groups.
        gt_boxes (Tensor[G, 4]), gt_idxs (Tensor[G]): ground truths and their groups.
        iou_threshold (float): pairs of lower IoU are never matched.

    Returns:
        Tensor[G] int64: the detection matched to each ground truth, -1 for none.
    """
    n, g = boxes.shape[0], gt_boxes.shape[0]
    matched = torch.full((g,), -1, dtype=torch.long, device=boxes.device)  # [G]
    if n == 0 or g == 0:
        return matched
    dtype = torch.promote_types(boxes.dtype, torch.float32)
    iou = box_iou(boxes.to(dtype), gt_boxes.to(dtype))  # [N, G]
    iou = iou.masked_fill(idxs[:, None] != gt_idxs[None, :], -1.0)
    iou = iou.masked_fill(iou < iou_threshold, -1.0)  # [N, G]: -1 = never a pair
    det_range = torch.arange(n, device=boxes.device)  # [N]
    while True:
        best_gt = iou.argmax(dim=1)  # [N] (argmax: the first index of the maximum)
        best_det = iou.argmax(dim=0)  # [G]
        has_pair = iou[det_range, best_gt] >= 0  # [N]
        mutual = has_pair & (best_det[best_gt] == det_range)  # [N]
        if not bool(mutual.any()):
            return matched
        dets, gts = det_range[mutual], best_gt[mutual]  # [P], [P]
        matched[gts] = dets
        iou[dets, :] = -1.0
        iou[:, gts] = -1.0
