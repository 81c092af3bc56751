"""COCOeval, quietly: the one place that builds pycocotools' objects from in-memory COCO dicts and
runs its bbox evaluation, for this package (:func:`evaluate_coco`) and for the detector (its AP
per category and its crowd numbers read the evaluated ``COCOeval``).

Needs the optional ``coco`` extra (``pip install "relnet-dedup[coco]"``: pycocotools and numpy).
COCO boxes are ``[x, y, w, h]``.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from relnet_core.checks import check_int

from ._coco_records import check_coco_detection
from .coco import PathLike, _pycocotools, load_coco_gt

if TYPE_CHECKING:
    from pycocotools.cocoeval import COCOeval

__all__ = ["coco_eval", "evaluate_coco"]


def coco_eval(
    ground_truth: PathLike | Mapping[str, Any] | Any,
    results: Sequence[Mapping[str, Any]],
    *,
    image_ids: Iterable[int] | None = None,
) -> COCOeval:
    """pycocotools' bbox ``COCOeval`` of ``results``, evaluated, accumulated and summarised
    without printing anything.

    Args:
        ground_truth: a COCO dataset dict (checked first, as for :func:`load_coco_gt`), its JSON
            file, or a ``pycocotools.coco.COCO``, used as is (build it once to evaluate many
            result sets).
        results: detections in the COCO results format (``{image_id, category_id, bbox: [x, y,
            w, h], score}``), each checked and copied (the caller's dicts are left as they are).
            An empty list evaluates an empty result set: precision 0 where there is ground
            truth, -1 where there is none (:func:`evaluate_coco` gives zeros instead).
        image_ids: evaluate these images only (``params.imgIds``, sorted, each once), such as
            the crowd scenes of a dataset; every image of the ground truth if None.

    Returns:
        COCOeval: ``stats`` (the 12 numbers: mAP, mAP50, mAP75, ..., AR large),
        ``eval["precision"]`` ``[T, R, K, A, M]`` (``K`` in the order of ``params.catIds``: AP per
        category), ``evalImgs`` (per category, area range and image, in that order, the
        ``gtIds`` and ``gtMatches`` ``[T, G]`` of COCOeval's own greedy matching), ``params``.

    Raises:
        ImportError: pycocotools is not installed.
        ValueError: a malformed ground truth or result (see :func:`check_coco_detection`), a
            result whose image is not in the ground truth (the message names its index), or an
            image id that is not.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 3}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10]}]}
        >>> found = [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.9}]
        >>> evaluator = coco_eval(gt, found, image_ids=[1])
        >>> round(float(evaluator.stats[0]), 3), evaluator.eval["precision"].shape
        (1.0, (10, 101, 1, 4, 3))
    """
    coco = load_coco_gt(ground_truth)
    checked = _check_results(results, coco)
    ids = None if image_ids is None else _check_image_ids(image_ids, coco)
    coco_cls, coco_eval_cls = _pycocotools()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        dets = coco.loadRes(checked) if checked else _no_results(coco_cls, coco)
        evaluator = coco_eval_cls(coco, dets, "bbox")
        if ids is not None:
            evaluator.params.imgIds = ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def evaluate_coco(
    gt: PathLike | Mapping[str, Any] | Any, results: Sequence[Mapping[str, Any]]
) -> list[float]:
    """The 12 standard COCOeval bbox numbers (mAP, mAP50, mAP75, ..., AR large).

    Args:
        gt: the ground truth, as for :func:`load_coco_gt`.
        results: detections in the COCO results format (``bbox`` as ``[x, y, w, h]``).

    Returns:
        list[float]: ``coco_eval(gt, results).stats``; all zeros when there is no detection at
        all.

    Raises:
        ValueError: a malformed result (see :func:`check_coco_detection`) or one whose image is
            not in the ground truth; the message names its index and the problem.
    """
    coco = load_coco_gt(gt)
    if not _results_list(results):
        return [0.0] * 12
    return [float(x) for x in coco_eval(coco, results).stats]


def _results_list(results: object) -> Sequence[Any]:
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Sequence):
        raise ValueError(f"results must be a list of dicts, got {type(results).__name__}")
    return results


def _check_results(results: object, coco: Any) -> list[dict[str, Any]]:
    """Every result checked and normalised (:func:`check_coco_detection`), each of an image of
    ``coco``."""
    checked = [check_coco_detection(r, k, "results") for k, r in enumerate(_results_list(results))]
    image_ids = set(coco.getImgIds())
    for k, det in enumerate(checked):
        if det["image_id"] not in image_ids:
            raise ValueError(
                f"results: detection {k}: image_id {det['image_id']} is not an image of the "
                "ground truth"
            )
    return checked


def _check_image_ids(image_ids: object, coco: Any) -> list[int]:
    """``image_ids`` sorted, each once, every one an image of ``coco``."""
    if isinstance(image_ids, (str, bytes, Mapping)) or not isinstance(image_ids, Iterable):
        raise ValueError(f"image_ids must be a list of image ids or None, got {image_ids!r:.80}")
    ids = sorted({check_int(f"image_ids[{k}]", i) for k, i in enumerate(image_ids)})
    known = set(coco.getImgIds())
    missing = [i for i in ids if i not in known]
    if missing:
        raise ValueError(f"image_ids {missing[:10]} are not images of the ground truth")
    return ids


def _no_results(coco_cls: Any, coco: Any) -> Any:
    """An empty result set for ``coco``, as ``coco.loadRes`` builds one (it refuses an empty
    list)."""
    res = coco_cls()
    res.dataset = {
        "images": list(coco.dataset.get("images", [])),
        "categories": copy.deepcopy(coco.dataset.get("categories", [])),
        "annotations": [],
    }
    res.createIndex()
    return res
