"""Reading COCO JSON files and checking every record (issue 10, defect 1).

Each error is a ``ValueError`` naming the file, the record's index and the problem, e.g.
``raw.json: detection 7: bbox must be 4 numbers [x, y, w, h], got 3: [10, 20, 30]``. Needs neither
pycocotools nor numpy, so the detector and the command line reuse it for their own files.
COCO boxes are ``[x, y, w, h]`` with ``w, h >= 0``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from relnet_core.checks import check_tensor

PathLike = str | os.PathLike[str]
DETECTION_KEYS = ("image_id", "category_id", "bbox", "score")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox")


def read_json(path: PathLike) -> Any:
    """The parsed content of the JSON file ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: unreadable, not UTF-8, or not valid JSON; the message names the file (and
            the line and column of a syntax error).
    """
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no file at {name}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} is not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise ValueError(f"cannot read {name}: {err.strerror or err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{name} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except RecursionError:
        raise ValueError(f"{name} is not valid JSON: nested too deeply") from None


def check_coco_detection(record: object, index: int, path: PathLike) -> dict[str, Any]:
    """Check one record of a COCO results file; return it with its fields normalised.

    Args:
        record (object): the record, ``{image_id, category_id, bbox: [x, y, w, h], score}``.
        index (int): its position in the file, for the message.
        path (str | PathLike): the file (or a description such as ``"results"``), for the
            message.

    Returns:
        dict: a copy with ``image_id`` and ``category_id`` as ``int`` (``1.0`` becomes ``1``),
        ``bbox`` as a list of 4 floats and ``score`` as a float; other keys as they were.

    Raises:
        ValueError: not a dict, a key missing, an id that is not an integer (``1.7``), a bbox
            that is not 4 finite numbers with ``w, h >= 0``, a score that is not a finite number
            in ``[0, 1]``; the message names the file, the index and the problem.
    """
    where = f"{os.fspath(path)}: detection {index}"
    out = _check_common(record, where, DETECTION_KEYS)
    score = _number(record["score"], where, "score")  # type: ignore[index]
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ValueError(f"{where}: score must be a finite number in [0, 1], got {score}")
    out["score"] = score
    return out


def check_coco_annotation(record: object, index: int, path: PathLike) -> dict[str, Any]:
    """Check one ground-truth annotation of a COCO instances file; return it normalised.

    Args:
        record (object): the annotation, ``{id, image_id, category_id, bbox: [x, y, w, h]}``
            and optionally ``iscrowd`` (0 or 1) and ``area``.
        index (int): its position in ``annotations``, for the message.
        path (str | PathLike): the file (or a description), for the message.

    Returns:
        dict: a copy with the ids as ``int``, ``bbox`` as 4 floats, ``iscrowd`` as 0 or 1 (0
        when missing) and ``area`` as a float (``w * h`` when missing, which COCOeval needs).

    Raises:
        ValueError: as :func:`check_coco_detection`, and an ``iscrowd`` other than 0 or 1.
    """
    where = f"{os.fspath(path)}: annotation {index}"
    out = _check_common(record, where, ANNOTATION_KEYS)
    out["id"] = _integer(out["id"], where, "id")
    crowd = out.get("iscrowd", 0)
    if isinstance(crowd, str) or crowd not in (0, 1):
        raise ValueError(f"{where}: iscrowd must be 0 or 1, got {crowd!r}")
    out["iscrowd"] = int(crowd)
    if "area" in out:
        area = _number(out["area"], where, "area")
        if not (math.isfinite(area) and area >= 0):
            raise ValueError(f"{where}: area must be a finite number >= 0, got {area}")
        out["area"] = area
    else:  # COCOeval needs it: the box's area, as for a file without segmentations
        out["area"] = out["bbox"][2] * out["bbox"][3]
    return out


def check_coco_dataset(data: object, path: PathLike) -> dict[str, Any]:
    """Check a COCO instances dataset (``images``, ``annotations``, ``categories``); return a copy
    whose annotations are normalised by :func:`check_coco_annotation`.

    Raises:
        ValueError: not a dict, ``images`` missing or not a list of dicts with an integer
            ``id``, or a bad annotation or category; the message names the file and the record.
    """
    name = os.fspath(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{name} must hold a COCO dataset (a dict), got {type(data).__name__}")
    out = dict(data)
    for key in ("images", "annotations", "categories"):
        if key == "images" and key not in out:
            raise ValueError(f"{name} has no 'images' list")
        if not isinstance(out.get(key, []), list):
            raise ValueError(f"{name}: '{key}' must be a list, got {type(out[key]).__name__}")
    for kind, key in (("image", "images"), ("category", "categories")):
        for i, item in enumerate(out.get(key, [])):
            if not isinstance(item, Mapping) or "id" not in item:
                raise ValueError(
                    f"{name}: {kind} {i} must be a dict with an 'id', got {item!r:.80}"
                )
            _integer(item["id"], f"{name}: {kind} {i}", "id")
    anns = out.get("annotations", [])
    out["annotations"] = [check_coco_annotation(a, i, path) for i, a in enumerate(anns)]
    return out


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``[x, y, w, h]`` to ``(x1, y1, x2, y2)``: ``Tensor[N, 4] -> Tensor[N, 4]``.

    Raises:
        ValueError: ``boxes`` is not a floating tensor of shape ``[N, 4]``.
    """
    check_tensor("boxes", boxes, shape=(None, 4), finite=False)
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)  # [N, 4]


def _check_common(record: object, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields shared by detections and annotations: the keys, the ids and the bbox."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(record).__name__}: {record!r:.80}")
    missing = [k for k in keys if k not in record]
    if missing:
        raise ValueError(f"{where} has no {', '.join(repr(k) for k in missing)}")
    out = dict(record)
    out["image_id"] = _integer(record["image_id"], where, "image_id")
    out["category_id"] = _integer(record["category_id"], where, "category_id")
    out["bbox"] = _bbox(record["bbox"], where)
    return out


def _bbox(value: object, where: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        got = f"{len(value)}: {value!r:.80}" if isinstance(value, (list, tuple)) else repr(value)
        raise ValueError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {got:.100}")
    box = [_number(v, where, f"bbox[{i}]") for i, v in enumerate(value)]
    if not all(math.isfinite(v) for v in box):
        raise ValueError(f"{where}: bbox must be finite, got {box}")
    if box[2] < 0 or box[3] < 0:
        raise ValueError(f"{where}: bbox width and height must be >= 0, got {box}")
    return box


def _number(value: object, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: {name} must be a number, got {value!r:.80}")
    return float(value)


def _integer(value: object, where: str, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON writers may put 1.0 for 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{where}: {name} must be an integer, got {value!r:.80}")
    return int(value)
