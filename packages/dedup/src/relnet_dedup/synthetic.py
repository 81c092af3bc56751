"""Deterministic synthetic detector output to test and benchmark duplicate removal (§4.3, §5.2).

Per image a few classes are present. Objects of a class come alone or in crowds: a same-class
partner overlapping at IoU 0.4-0.7, where NMS at 0.5 deletes true objects. Each object gets a
cluster of noisy duplicate boxes whose scores rise with their IoU to the object, plus noise and a
per-object confidence (some objects are hard). Crowds also give boxes straddling both objects.
Low-score false positives and copies of the boxes under absent classes with tiny scores (every
class scores every proposal) complete the picture. Optional appearance features are a noisy
signal of the detector: class and object identity blurred in proportion to the localisation error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from relnet_geometry import box_iou

from .data import ImageDetections


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of :func:`make_synthetic`; ranges are inclusive ``(low, high)``.

    Attributes:
        num_classes: classes in the label space.
        image_size: ``(width, height)`` in pixels.
        classes_per_image: number of classes present in an image.
        objects_per_class: objects of a present class before crowd partners.
        crowd_prob: probability that an object has a same-class partner overlapping it.
        crowd_iou: IoU range of a crowd pair.
        object_size: range of object width and height in pixels (log-uniform).
        duplicates: detections per object.
        box_noise: largest std of the corner jitter, relative to the object size.
        score_noise: std of the logit noise of the scores.
        false_positives: random low-score boxes per present class.
        background_classes: absent classes that copy every box with a tiny score.
        feat_dim: appearance feature size, 0 for none.
    """

    num_classes: int = 8
    image_size: tuple[int, int] = (640, 480)
    classes_per_image: tuple[int, int] = (1, 3)
    objects_per_class: tuple[int, int] = (1, 4)
    crowd_prob: float = 0.5
    crowd_iou: tuple[float, float] = (0.4, 0.7)
    object_size: tuple[float, float] = (32.0, 200.0)
    duplicates: tuple[int, int] = (3, 10)
    box_noise: float = 0.15
    score_noise: float = 1.0
    false_positives: tuple[int, int] = (0, 4)
    background_classes: int = 2
    feat_dim: int = 0


def make_synthetic(
    num_images: int, config: SyntheticConfig | None = None, seed: int = 0
) -> list[ImageDetections]:
    """Generate ``num_images`` images of raw detections with ground truth, deterministically.

    Args:
        num_images (int): how many images.
        config (SyntheticConfig, optional): the generator's knobs.
        seed (int): the same seed gives the same images (image ids ``0 .. num_images - 1``).

    Returns:
        list[ImageDetections]: float32 tensors on the CPU.
    """
    cfg = config if config is not None else SyntheticConfig()
    gen = torch.Generator().manual_seed(seed)
    # features draw from their own generator: boxes and scores do not depend on feat_dim
    feat_gen = torch.Generator().manual_seed(seed + 7919)
    class_emb = torch.randn(cfg.num_classes, max(cfg.feat_dim, 1), generator=feat_gen)
    return [_image(i, cfg, gen, feat_gen, class_emb) for i in range(num_images)]


def _uniform(gen: torch.Generator, low: float, high: float, *shape: int) -> Tensor:
    return low + (high - low) * torch.rand(*shape, generator=gen)


def _randint(gen: torch.Generator, bounds: tuple[int, int]) -> int:
    return int(torch.randint(bounds[0], bounds[1] + 1, (1,), generator=gen))


def _objects(cfg: SyntheticConfig, gen: torch.Generator) -> Tensor:
    """Ground-truth boxes of one class, crowd partners included: ``[G, 4]``."""
    width, height = cfg.image_size
    lo, hi = torch.log(torch.tensor(cfg.object_size))
    boxes = []
    for _ in range(_randint(gen, cfg.objects_per_class)):
        wh = torch.exp(_uniform(gen, float(lo), float(hi), 2))  # [2]
        xy = torch.rand(2, generator=gen) * (torch.tensor([width, height]) - wh)  # [2]
        box = torch.cat([xy, xy + wh])  # [4]
        boxes.append(box)
        if float(torch.rand(1, generator=gen)) < cfg.crowd_prob:
            partner = _partner(box, cfg, gen)
            if partner is not None:
                boxes.append(partner)
    return torch.stack(boxes)


def _partner(box: Tensor, cfg: SyntheticConfig, gen: torch.Generator) -> Tensor | None:
    """A box of similar size overlapping ``box`` at an IoU in ``cfg.crowd_iou`` (or None)."""
    wh = box[2:] - box[:2]
    for _ in range(20):
        size = wh * _uniform(gen, 0.8, 1.25, 2)  # [2]
        shift = torch.randn(2, generator=gen) * wh * 0.3  # [2]
        center = 0.5 * (box[:2] + box[2:]) + shift
        cand = torch.cat([center - size / 2, center + size / 2])  # [4]
        iou = float(box_iou(box[None], cand[None])[0, 0])
        if cfg.crowd_iou[0] <= iou <= cfg.crowd_iou[1]:
            return cand
    return None


def _jitter(gt: Tensor, count: int, noise: Tensor, gen: torch.Generator) -> Tensor:
    """``count`` boxes around ``gt`` with corner noise ``noise[count]`` relative to its size."""
    wh = (gt[2:] - gt[:2]).repeat(2)  # [4]
    return gt + torch.randn(count, 4, generator=gen) * noise[:, None] * wh  # [count, 4]


def _score(iou: Tensor, confidence: float, noise: float, gen: torch.Generator) -> Tensor:
    """Scores rising with IoU: ``confidence * sigmoid(10 (iou - 0.55) + noise)``."""
    logit = 10.0 * (iou - 0.55) + noise * torch.randn(iou.shape, generator=gen)
    return confidence * torch.sigmoid(logit)


def _image(
    image_id: int,
    cfg: SyntheticConfig,
    gen: torch.Generator,
    feat_gen: torch.Generator,
    class_emb: Tensor,
) -> ImageDetections:
    width, height = cfg.image_size
    num_present = min(_randint(gen, cfg.classes_per_image), cfg.num_classes)
    classes = torch.randperm(cfg.num_classes, generator=gen)[:num_present].tolist()
    gt_boxes: list[Tensor] = []
    gt_labels: list[Tensor] = []
    boxes: list[Tensor] = []
    scores: list[Tensor] = []
    labels: list[Tensor] = []
    owner: list[Tensor] = []
    quality: list[Tensor] = []
    num_gt = 0
    for c in classes:
        objs = _objects(cfg, gen)  # [g, 4]
        for g in range(objs.shape[0]):
            count = _randint(gen, cfg.duplicates)
            noise = _uniform(gen, 0.02, cfg.box_noise, count)  # [count]
            dup = _jitter(objs[g], count, noise, gen)  # [count, 4]
            iou = box_iou(dup, objs[g : g + 1])[:, 0]  # [count]
            confidence = float(_uniform(gen, 0.3, 1.0, 1))
            boxes.append(dup)
            scores.append(_score(iou, confidence, cfg.score_noise, gen))
            owner.append(torch.full((count,), num_gt + g))
            quality.append(iou)
        for g in range(1, objs.shape[0]):  # boxes straddling a crowd pair
            iou_pair = float(box_iou(objs[g - 1 : g], objs[g : g + 1])[0, 0])
            if iou_pair >= cfg.crowd_iou[0] and float(torch.rand(1, generator=gen)) < 0.7:
                mix = _uniform(gen, 0.3, 0.7, 2, 1)  # [2, 1]
                straddle = mix * objs[g - 1] + (1 - mix) * objs[g]  # [2, 4]
                iou = box_iou(straddle, objs).max(dim=1).values  # [2]
                boxes.append(straddle)
                scores.append(_score(iou, float(_uniform(gen, 0.3, 0.8, 1)), cfg.score_noise, gen))
                owner.append(torch.full((2,), -1))
                quality.append(iou * 0.5)
        num_fp = _randint(gen, cfg.false_positives)
        if num_fp:
            xy = torch.rand(num_fp, 2, generator=gen) * torch.tensor([width, height]) * 0.8
            wh = _uniform(gen, cfg.object_size[0], cfg.object_size[1], num_fp, 2)
            boxes.append(torch.cat([xy, xy + wh], dim=1))
            scores.append(_uniform(gen, 0.0, 0.3, num_fp) ** 2)
            owner.append(torch.full((num_fp,), -1))
            quality.append(torch.zeros(num_fp))
        total = sum(int(b.shape[0]) for b in boxes) - sum(int(lab.numel()) for lab in labels)
        labels.append(torch.full((total,), c))
        gt_boxes.append(objs)
        gt_labels.append(torch.full((objs.shape[0],), c))
        num_gt += objs.shape[0]
    det_boxes, det_scores = torch.cat(boxes), torch.cat(scores)
    det_labels = torch.cat(labels)
    own, qual = torch.cat(owner), torch.cat(quality)
    absent = [c for c in range(cfg.num_classes) if c not in classes]
    order = torch.randperm(len(absent), generator=gen)[: cfg.background_classes].tolist()
    bg = [absent[i] for i in order]
    n = det_boxes.shape[0]
    for c in bg:  # every class scores every proposal: tiny scores for absent classes
        det_boxes = torch.cat([det_boxes, det_boxes[:n]])
        det_scores = torch.cat([det_scores, 0.02 * torch.rand(n, generator=gen) ** 2])
        det_labels = torch.cat([det_labels, torch.full((n,), c)])
        own = torch.cat([own, torch.full((n,), -1)])
        qual = torch.cat([qual, torch.zeros(n)])
    features = None
    if cfg.feat_dim > 0:
        features = _features(det_labels, own, qual, num_gt, class_emb, feat_gen)
    return ImageDetections(
        boxes=_clip(det_boxes, width, height),
        scores=det_scores.clamp(0.0, 1.0),
        labels=det_labels.long(),
        gt_boxes=_clip(torch.cat(gt_boxes), width, height),
        gt_labels=torch.cat(gt_labels).long(),
        features=features,
        image_id=image_id,
    )


def _features(
    labels: Tensor,
    owner: Tensor,
    quality: Tensor,
    num_gt: int,
    class_emb: Tensor,
    gen: torch.Generator,
) -> Tensor:
    """Class plus object identity, weighted by localisation quality, plus noise: ``[N, D]``."""
    dim = class_emb.shape[1]
    identity = torch.randn(num_gt + 1, dim, generator=gen)  # [G + 1, D], last row: no object
    own = torch.where(owner < 0, num_gt, owner)  # [N]
    signal = class_emb[labels] * 0.5 + identity[own] * quality[:, None]  # [N, D]
    return signal + torch.randn(labels.shape[0], dim, generator=gen)


def _clip(boxes: Tensor, width: int, height: int) -> Tensor:
    limit = torch.tensor([width, height, width, height], dtype=boxes.dtype)
    return torch.minimum(boxes.clamp(min=0.0), limit)  # [N, 4]
