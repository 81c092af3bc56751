"""COCO-format files in and out: train on a results file of raw detections, write COCO results,
build a ground truth; :mod:`relnet_dedup.io.cocoeval` scores them with COCOeval.

Needs the optional ``coco`` extra (``pip install "relnet-dedup[coco]"``: pycocotools and numpy).
COCO boxes are ``[x, y, w, h]``; this package's are ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from relnet_core.checks import check_int

from ..data import ImageDetections
from ..network.config import DedupConfig
from ..training.fit import FitResult, fit
from ._coco_records import (
    check_coco_annotation,
    check_coco_dataset,
    check_coco_detection,
    read_json,
    xywh_to_xyxy,
)

__all__ = [
    "check_coco_annotation",
    "check_coco_dataset",
    "check_coco_detection",
    "coco_ground_truth",
    "coco_results",
    "fit_coco",
    "load_coco_detections",
    "load_coco_gt",
    "read_json",
    "to_coco_results",
    "xywh_to_xyxy",
]

PathLike = str | os.PathLike[str]


def _pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:
        raise ImportError(
            "COCO support needs pycocotools and numpy: pip install 'relnet-dedup[coco]'"
        ) from err
    return COCO, COCOeval


def load_coco_gt(gt: PathLike | Mapping[str, Any] | Any) -> Any:
    """A ``pycocotools.coco.COCO`` from a file path, a dataset dict, or a ``COCO`` (as is).

    A file or dict is checked first (:func:`check_coco_dataset`): a bad annotation raises a
    ``ValueError`` naming the file (``"ground truth"`` for a dict), its index and the problem.
    """
    coco_cls, _ = _pycocotools()
    if isinstance(gt, coco_cls):
        return gt
    if isinstance(gt, Mapping):
        dataset = check_coco_dataset(gt, "ground truth")
    elif isinstance(gt, (str, os.PathLike)):
        dataset = check_coco_dataset(read_json(gt), gt)
    else:
        raise ValueError(
            f"gt must be a COCO file path, a dataset dict or a pycocotools COCO, "
            f"got {type(gt).__name__}"
        )
    coco = coco_cls()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_coco_detections(results_json: PathLike, gt_json: PathLike | Any) -> list[ImageDetections]:
    """Per-image raw detections of a COCO results file, with each image's ground truth.

    Args:
        results_json: a list of ``{image_id, category_id, bbox: [x, y, w, h], score}`` (raw,
            pre-NMS detections, every image's and class's in one file).
        gt_json: the COCO ground-truth file (or a loaded ``COCO``); ``iscrowd`` regions are left
            out of the targets.

    Returns:
        list[ImageDetections]: one per ground-truth image, in image id order; labels are the COCO
        category ids.

    Raises:
        ValueError: a file is not JSON, or a record is malformed (see
            :func:`check_coco_detection`) or names an image the ground truth does not have; the
            message names the file, the record's index and the problem.
    """
    coco = load_coco_gt(gt_json)
    results = read_json(results_json)
    if not isinstance(results, list):
        raise ValueError(
            f"{os.fspath(results_json)} must hold a list of detections, "
            f"got {type(results).__name__}"
        )
    per_image: dict[int, list[dict[str, Any]]] = {int(i): [] for i in coco.getImgIds()}
    for k, raw in enumerate(results):
        det = check_coco_detection(raw, k, results_json)
        if det["image_id"] not in per_image:
            raise ValueError(
                f"{os.fspath(results_json)}: detection {k}: image_id {det['image_id']} is not "
                "an image of the ground truth"
            )
        per_image[det["image_id"]].append(det)
    images = []
    for image_id, dets in sorted(per_image.items()):
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if not a.get("iscrowd")]
        images.append(
            ImageDetections(
                boxes=xywh_to_xyxy(_tensor([d["bbox"] for d in dets], (0, 4))),
                scores=_tensor([d["score"] for d in dets], (0,)),
                labels=torch.tensor([d["category_id"] for d in dets], dtype=torch.long),
                gt_boxes=xywh_to_xyxy(_tensor([a["bbox"] for a in anns], (0, 4))),
                gt_labels=torch.tensor([a["category_id"] for a in anns], dtype=torch.long),
                image_id=image_id,
            )
        )
    return images


def _tensor(values: list[Any], empty: tuple[int, ...]) -> Tensor:
    if not values:
        return torch.zeros(empty)
    return torch.tensor(values, dtype=torch.float32)


def fit_coco(
    results_json: PathLike,
    gt_json: PathLike,
    config: DedupConfig | None = None,
    **fit_kwargs: Any,
) -> FitResult:
    """Train on a COCO results file of raw detections and its ground truth (see :func:`fit`).

    Args:
        results_json: raw (pre-NMS) detections in the COCO results format.
        gt_json: the COCO ground-truth file.
        config (DedupConfig, optional): the network; without features by default.
        **fit_kwargs: passed to :func:`relnet_dedup.fit` (``epochs``, ``lr``, ``checkpoint``, ...).

    Returns:
        FitResult: the trained model and its history.
    """
    images = load_coco_detections(results_json, gt_json)
    return fit(
        images, config if config is not None else DedupConfig(use_appearance=False), **fit_kwargs
    )


def to_coco_results(
    image_id: int, boxes: Tensor, scores: Tensor, labels: Tensor
) -> list[dict[str, Any]]:
    """Detections of one image, ``(x1, y1, x2, y2)`` boxes, as COCO results dicts."""
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()  # [N, 4]
    return [
        {"image_id": int(image_id), "category_id": int(c), "bbox": b, "score": float(s)}
        for b, s, c in zip(xywh, scores.tolist(), labels.tolist(), strict=True)
    ]


Remover = Callable[[ImageDetections], tuple[Tensor, Tensor]]


def coco_results(
    images: Sequence[ImageDetections], remover: Remover, max_dets: int = 100
) -> list[dict[str, Any]]:
    """Run a duplicate remover on every image and gather COCO results dicts.

    Args:
        images: the images' raw detections.
        remover: ``image -> (keep, final_scores)``, indices into the image's detections sorted by
            final score descending (``learned_batched_nms`` and ``batched_soft_nms`` shapes).
        max_dets (int): keep each image's ``max_dets`` highest final scores (COCO's 100).

    Returns:
        list[dict]: every image's kept detections in the COCO results format.
    """
    max_dets = check_int("max_dets", max_dets, low=1)
    results: list[dict[str, Any]] = []
    for image in images:
        keep, final = remover(image)
        top = torch.sort(final, descending=True, stable=True).indices[:max_dets]  # [K']
        keep, final = keep[top], final[top]
        results += to_coco_results(image.image_id, image.boxes[keep], final, image.labels[keep])
    return results


def coco_ground_truth(
    images: Sequence[ImageDetections], num_classes: int, image_size: tuple[int, int]
) -> dict[str, Any]:
    """A COCO ground-truth dataset dict for images whose labels are ``0 .. num_classes - 1``."""
    check_int("num_classes", num_classes, low=1)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise ValueError(f"image_size must be (width, height), got {image_size!r}")
    width = check_int("image_size[0]", image_size[0], low=1)
    height = check_int("image_size[1]", image_size[1], low=1)
    anns: list[dict[str, Any]] = []
    for image in images:
        xywh = torch.cat(
            [image.gt_boxes[:, :2], image.gt_boxes[:, 2:] - image.gt_boxes[:, :2]], dim=1
        )  # [G, 4]
        for box, label in zip(xywh.tolist(), image.gt_labels.tolist(), strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image.image_id,
                    "category_id": int(label),
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    return {
        "images": [{"id": i.image_id, "width": width, "height": height} for i in images],
        "annotations": anns,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(num_classes)],
    }
