"""COCO evaluation of the detector with several duplicate removers on one network output (the
comparison of paper §5.2, Table 4: NMS, Soft-NMS and the learned remover on the same detections).

The network runs once per image (:meth:`RelationDetector.raw_detections`); every remover is
applied to that raw output (:func:`relnet_detector.modeling.removers.remove_duplicates`).
Per remover:
pycocotools' ``COCOeval`` (the 12 standard numbers), a COCO results file with the dataset's own
category ids, and the time per image split into the network and the duplicate removal.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from relnet_core.checks import check_int
from relnet_core.files import write_text

from ..config import RemoverConfig
from ..modeling.model import RelationDetector
from ..modeling.removers import GroundTruth, remove_duplicates
from .coco_results import category_lookup, coco_detections
from .metrics import STAT_NAMES, coco_metrics, coco_stats, find_crowds

__all__ = [
    "STAT_NAMES",
    "EvalDataset",
    "EvalResult",
    "RemoverResult",
    "coco_detections",
    "coco_stats",
    "evaluate",
    "remover_names",
]


class EvalDataset(Protocol):
    """What :func:`evaluate` reads: ``dataset[i]`` is ``(image [3, H, W] float in [0, 1],
    {"image_id": int, ...})`` (with ``boxes`` [G, 4] and ``labels`` [G] for the oracle) or None
    (an image that failed to decode, skipped); ``.coco`` is the ground truth
    (``pycocotools.coco.COCO``). ``CocoFolder`` is one."""

    coco: Any

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]] | None: ...


@dataclass(frozen=True)
class RemoverResult:
    """One remover's row of an evaluation.

    Attributes:
        name: a short unique name (``"nms-0.5"``, ``"soft-nms-0.5"``, ``"learned"``, ``"e2e"``).
        remover: its configuration.
        stats: COCOeval's 12 numbers by :data:`STAT_NAMES` (``AP`` = mAP@[.5:.95]).
        crowd: crowd-scene AP, AP50, AP75 and crowd-member recall at IoU 0.5 / 0.75
            (:data:`relnet_detector.evaluation.metrics.CROWD_NAMES`; NaN without crowds).
        per_category: AP@[.5:.95] per dataset category id.
        per_category50, per_category75: AP at IoU 0.5 and 0.75 per dataset category id.
        network_ms: mean milliseconds per image of the network (shared by every row).
        removal_ms: mean milliseconds per image of this remover.
        detections: detections written.
        results_file: the COCO results JSON, if written.
    """

    name: str
    remover: RemoverConfig
    stats: dict[str, float]
    network_ms: float
    removal_ms: float
    detections: int
    results_file: Path | None = None
    crowd: dict[str, float] = field(default_factory=dict)
    per_category: dict[int, float] = field(default_factory=dict)
    per_category50: dict[int, float] = field(default_factory=dict)
    per_category75: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalResult:
    """An evaluation: one row per remover, in the order given."""

    rows: list[RemoverResult]
    images: int
    skipped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain types (for JSON): images, skipped and per row name, method, stats, times."""
        return {
            "images": self.images,
            "skipped": self.skipped,
            "removers": [
                {
                    "name": r.name,
                    "method": r.remover.method,
                    "stats": dict(r.stats),
                    "crowd": dict(r.crowd),
                    "per_category": {str(k): v for k, v in r.per_category.items()},
                    "per_category50": {str(k): v for k, v in r.per_category50.items()},
                    "per_category75": {str(k): v for k, v in r.per_category75.items()},
                    "network_ms": r.network_ms,
                    "removal_ms": r.removal_ms,
                    "detections": r.detections,
                    "results_file": None if r.results_file is None else str(r.results_file),
                }
                for r in self.rows
            ],
            **self.extra,
        }


def evaluate(
    model: RelationDetector,
    dataset: EvalDataset,
    removers: Sequence[RemoverConfig],
    *,
    device: torch.device | str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    categories: Any = None,
    progress: bool = True,
    max_images: int | None = None,
) -> EvalResult:
    """COCO mAP of ``model`` on ``dataset`` with each of ``removers``, the network run once.

    Args:
        model (RelationDetector): the detector (put in eval mode here, its mode restored after).
        dataset (EvalDataset): e.g. ``CocoFolder(root, "val")``.
        removers (sequence of RemoverConfig): the removers to compare; ``"learned"`` loads its
            checkpoint, ``"e2e"`` needs the model's trained end-to-end network, ``"oracle"``
            takes each image's ground truth from the dataset's targets.
        device (torch.device | str, optional): moves the model there; the model's device if None.
        out_dir (str | PathLike, optional): writes ``detections_<name>.json`` per remover.
        categories: the dataset category id of each label: a ``CategoryMap`` (its
            ``category_id(label)``) or a sequence whose entry ``k`` is the id of label ``k + 1``;
            ``dataset.categories`` if None.
        progress (bool): a rich progress bar.
        max_images (int, optional): evaluate the first this many images only (COCOeval on
            those images alone); all if None.

    Returns:
        EvalResult: one :class:`RemoverResult` per remover.

    Raises:
        ValueError: no removers, a bad remover, no category map, or labels it does not cover.
    """
    if not removers:
        raise ValueError("removers must name at least one remover, got none")
    if max_images is not None:
        max_images = check_int("max_images", max_images, low=1)
    to_category = category_lookup(categories if categories is not None else _categories(dataset))
    names = remover_names(removers)
    if device is not None:
        model.to(device)
    networks = [model.remover_network(r) for r in removers]  # fails early on a bad remover
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    on = next(model.parameters()).device
    threshold = min(r.score_threshold for r in removers)
    oracle = any(r.method == "oracle" for r in removers)
    was_training = model.training
    model.eval()
    results: list[list[dict[str, Any]]] = [[] for _ in removers]
    removal_s = [0.0] * len(removers)
    network_s, image_ids, skipped = 0.0, [], 0
    try:
        with torch.inference_mode():
            for item in _track(dataset, progress, max_images):
                if item is None:
                    skipped += 1
                    continue
                image, target = item
                image_id = int(target["image_id"])
                image_ids.append(image_id)
                start = _now(on)
                (raw,) = model.raw_detections(
                    [image.as_subclass(Tensor).to(on)], score_threshold=threshold
                )
                network_s += _now(on) - start
                truth = _ground_truth(target, on) if oracle else None
                for k, (remover, network) in enumerate(zip(removers, networks, strict=True)):
                    start = _now(on)
                    det = remove_duplicates(raw, remover, network, truth)
                    removal_s[k] += _now(on) - start
                    results[k].extend(coco_detections(image_id, det, to_category))
    finally:
        model.train(was_training)
    n = max(len(image_ids), 1)
    crowds = find_crowds(dataset.coco, image_ids)
    rows = []
    for k, remover in enumerate(removers):
        path = None
        if out is not None:
            path = out / f"detections_{names[k]}.json"
            write_text(path, json.dumps(results[k]))
        metrics = coco_metrics(dataset.coco, results[k], image_ids, crowds)
        rows.append(
            RemoverResult(
                name=names[k],
                remover=remover,
                stats=metrics.stats,
                network_ms=1000 * network_s / n,
                removal_ms=1000 * removal_s[k] / n,
                detections=len(results[k]),
                results_file=path,
                crowd=metrics.crowd,
                per_category=metrics.per_category,
                per_category50=metrics.per_category50,
                per_category75=metrics.per_category75,
            )
        )
    return EvalResult(rows=rows, images=len(image_ids), skipped=skipped)


def remover_names(removers: Sequence[RemoverConfig]) -> list[str]:
    """Short unique names: ``nms-<Nt>``, ``soft-nms-<sigma>``, ``learned``, ``e2e`` (with
    ``-eta<eta>`` when set), ``oracle``, ``-2``, ``-3`` ... on repeats."""
    names: list[str] = []
    for remover in removers:
        if remover.method == "nms":
            name = f"nms-{remover.nms_threshold:g}"
        elif remover.method == "soft-nms":
            name = f"soft-nms-{remover.soft_nms_sigma:g}"
        else:
            name = remover.method + ("" if remover.eta is None else f"-eta{remover.eta:g}")
        base, i = name, 1
        while name in names:
            i += 1
            name = f"{base}-{i}"
        names.append(name)
    return names


def _ground_truth(target: dict[str, Any], device: torch.device) -> GroundTruth:
    if "boxes" not in target or "labels" not in target:
        raise ValueError(
            "remover 'oracle' needs the dataset's targets to hold 'boxes' and 'labels' "
            f"(as CocoFolder's do), got the keys {sorted(target)}"
        )
    boxes = torch.as_tensor(target["boxes"]).as_subclass(Tensor).to(device)
    return GroundTruth(boxes.reshape(-1, 4), torch.as_tensor(target["labels"]).to(device))


def _categories(dataset: Any) -> Any:
    categories = getattr(dataset, "categories", None)
    if categories is None:
        raise ValueError(
            "categories is required: the dataset has no .categories to map labels back to its "
            "category ids"
        )
    return categories


def _track(dataset: EvalDataset, progress: bool, max_images: int | None) -> Iterable[Any]:
    total = len(dataset) if max_images is None else min(len(dataset), max_images)
    items = (dataset[i] for i in range(total))
    if not progress:
        return items
    from rich.progress import track

    return track(items, total=total, description="evaluating", transient=True)


def _now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
