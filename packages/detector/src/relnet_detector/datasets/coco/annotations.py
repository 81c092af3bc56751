"""Reading and checking a COCO instances file (``instances_{train,val}.json``) record by record.

Every record is checked before pycocotools sees it, so a bad file fails at once with a
``ValueError`` naming the file, the record (``annotations[17]``) and the problem, never with a
``KeyError`` deep inside pycocotools or a silently wrong box. Boxes are COCO ``[x, y, w, h]`` in
pixels. Training targets leave out crowd regions (``iscrowd=1``), clip boxes to their image and
drop boxes of zero size; both are counted and reported in one warning per file, as torchvision's
detection references do (real COCO has such boxes). The ground truth handed to ``COCOeval`` keeps
every annotation as written, with ``area`` and ``iscrowd`` filled in where the file leaves them out.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from .categories import CategoryMap

__all__ = ["CocoFile", "ImageRecord", "read_coco_file"]


@dataclass(frozen=True)
class ImageRecord:
    """One image of the file: its id, path under the images folder, size, and training targets.

    Attributes:
        image_id: the file's image id.
        file_name: path relative to ``DIR/images`` (may hold subfolders).
        width, height: the image size the file states, in pixels.
        boxes (np.ndarray[M, 4] float32): clipped, non-empty ``(x1, y1, x2, y2)`` boxes of the
            image's non-crowd annotations.
        labels (np.ndarray[M] int64): their contiguous labels ``1 .. C``.
    """

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class CocoFile:
    """A checked COCO instances file.

    Attributes:
        path: the file.
        coco: the ground truth as a ``pycocotools.coco.COCO`` (for ``COCOeval``).
        categories: category ids and names, in label order.
        images: one record per image, sorted by image id (torchvision's ``CocoDetection`` order).
        clipped: boxes partly outside their image, clipped to it.
        dropped: boxes of zero size (after clipping), left out of the targets.
        crowd: crowd annotations, left out of the targets.
    """

    path: Path
    coco: Any
    categories: CategoryMap
    images: tuple[ImageRecord, ...]
    clipped: int
    dropped: int
    crowd: int


def read_coco_file(path: str | os.PathLike[str]) -> CocoFile:
    """Read and check a COCO instances file; warn once if boxes were clipped or dropped.

    Args:
        path (str | PathLike): the JSON file (``images``, ``annotations``, ``categories``).

    Returns:
        CocoFile: the ground truth, the category map and per-image training targets.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not JSON, misses a list or a field, has a duplicate id, an
            annotation of an unknown image or category, a malformed or non-finite bbox, or no image;
            the message names the file, the record's index and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no COCO annotation file at {path}")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    try:
        result = _check(data, path)
    except _RecordError as err:
        raise ValueError(f"{path}: {err}") from None
    if result.clipped or result.dropped:
        warnings.warn(
            f"{path}: {result.clipped} box(es) partly outside their image were clipped and "
            f"{result.dropped} box(es) of zero size were left out of the training targets",
            stacklevel=2,
        )
    return result


class _RecordError(Exception):
    """A problem with one record; :func:`read_coco_file` puts the file name in front."""


def _check(data: Any, path: Path) -> CocoFile:
    if not isinstance(data, dict):
        raise _RecordError(
            f"expected a JSON object with images, annotations and categories, "
            f"got a {type(data).__name__}"
        )
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise _RecordError(f"missing the {key!r} list")
        if not isinstance(data[key], list):
            raise _RecordError(f"{key!r} must be a list, got {type(data[key]).__name__}")
    if not data["images"]:
        raise _RecordError("empty dataset: the 'images' list holds no image")
    if not data["categories"]:
        raise _RecordError("the 'categories' list holds no category")

    categories: dict[int, str] = {}
    for k, cat in enumerate(data["categories"]):
        where = f"categories[{k}]"
        cid = _int(cat, "id", where)
        name = _field(cat, "name", where)
        if not isinstance(name, str):
            raise _RecordError(f"{where}: name must be a string, got {name!r}")
        if cid in categories:
            raise _RecordError(f"{where}: duplicate category id {cid}")
        categories[cid] = name
        cat["id"] = cid
    category_map = CategoryMap.from_categories(
        [{"id": c, "name": n} for c, n in categories.items()]
    )

    images: dict[int, dict[str, Any]] = {}
    for k, img in enumerate(data["images"]):
        where = f"images[{k}]"
        image_id = _int(img, "id", where)
        file_name = _field(img, "file_name", where)
        if not isinstance(file_name, str) or not file_name:
            raise _RecordError(f"{where}: file_name must be a non-empty string, got {file_name!r}")
        parts = PurePosixPath(file_name.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts:
            raise _RecordError(
                f"{where}: file_name {file_name!r} must be a relative path inside the images folder"
            )
        width, height = _int(img, "width", where), _int(img, "height", where)
        if width <= 0 or height <= 0:
            raise _RecordError(f"{where}: width and height must be positive, got {width}x{height}")
        if image_id in images:
            raise _RecordError(f"{where}: duplicate image id {image_id}")
        img.update(id=image_id, width=width, height=height)
        images[image_id] = img

    boxes: dict[int, list[list[float]]] = {i: [] for i in images}
    labels: dict[int, list[int]] = {i: [] for i in images}
    ann_ids: set[int] = set()
    clipped = dropped = crowd = 0
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}]"
        ann_id = _int(ann, "id", where)
        if ann_id in ann_ids:
            raise _RecordError(f"{where}: duplicate annotation id {ann_id}")
        ann_ids.add(ann_id)
        image_id, cid = _int(ann, "image_id", where), _int(ann, "category_id", where)
        if image_id not in images:
            raise _RecordError(f"{where}: unknown image id {image_id}")
        if cid not in categories:
            raise _RecordError(
                f"{where}: unknown category id {cid} (the file's are {sorted(categories)})"
            )
        x, y, w, h = _bbox(ann, where)
        is_crowd = ann.get("iscrowd", 0)
        if is_crowd not in (0, 1):  # also True / False
            raise _RecordError(f"{where}: iscrowd must be 0 or 1, got {is_crowd!r}")
        area = ann.get("area", w * h)
        if isinstance(area, bool) or not isinstance(area, int | float) or not area >= 0:
            raise _RecordError(f"{where}: area must be a non-negative number, got {area!r}")
        ann.update(id=ann_id, image_id=image_id, category_id=cid, iscrowd=int(is_crowd), area=area)
        if is_crowd:
            crowd += 1
            continue
        img = images[image_id]
        x1, y1 = max(x, 0.0), max(y, 0.0)
        x2, y2 = min(x + w, float(img["width"])), min(y + h, float(img["height"]))
        if not (x2 > x1 and y2 > y1):
            dropped += 1
            continue
        clipped += (x1, y1, x2, y2) != (x, y, x + w, y + h)
        boxes[image_id].append([x1, y1, x2, y2])
        labels[image_id].append(category_map.label(cid))

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    records = tuple(
        ImageRecord(
            image_id=i,
            file_name=images[i]["file_name"],
            width=images[i]["width"],
            height=images[i]["height"],
            boxes=np.asarray(boxes[i], dtype=np.float32).reshape(-1, 4),  # [M, 4]
            labels=np.asarray(labels[i], dtype=np.int64),  # [M]
        )
        for i in sorted(images)
    )
    return CocoFile(path, coco, category_map, records, clipped, dropped, crowd)


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, Mapping):
        raise _RecordError(f"{where} must be a JSON object, got {type(record).__name__}")
    if key not in record:
        raise _RecordError(f"{where}: missing field {key!r}")
    return record[key]


def _int(record: Any, key: str, where: str) -> int:
    """An integer field; integral floats (``3.0``) are accepted, ``1.7`` and ``true`` are not."""
    value = _field(record, key, where)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RecordError(f"{where}: {key} must be an integer, got {value!r}")
    return int(value)


def _bbox(record: Any, where: str) -> tuple[float, float, float, float]:
    bbox = _field(record, "bbox", where)
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in bbox)
    ):
        raise _RecordError(f"{where}: bbox must be a list of 4 numbers [x, y, w, h], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise _RecordError(f"{where}: bbox holds a non-finite number: {bbox!r}")
    if w < 0 or h < 0:
        raise _RecordError(f"{where}: bbox has a negative width or height: {bbox!r}")
    return x, y, w, h
