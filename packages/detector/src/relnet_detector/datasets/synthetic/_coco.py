"""COCO files of the synthetic benchmark: images, annotations with ``relnet`` extras, categories.

The extras are plain JSON fields that pycocotools and torchvision ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ._config import CATEGORIES, CATEGORY_BY_ID, Category, SyntheticConfig
from ._geometry import box_iou, edge_gap
from ._scene import Scene


def coco_categories() -> list[dict[str, Any]]:
    """The ``categories``: COCO's fields plus ``relnet_kind``, ``relnet_role``, ``relnet_shape``."""
    return [_category_json(c) for c in CATEGORIES]


def _category_json(c: Category) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "supercategory": c.role,
        "relnet_kind": c.kind,
        "relnet_role": c.role,
        "relnet_shape": c.shape,
    }


def coco_split(
    split: str, scenes: Sequence[Scene], config: SyntheticConfig, version: int
) -> dict[str, Any]:
    """The COCO dictionary of one split from its scenes (image ids from 1, in order).

    ``version`` is the generator's, recorded in ``info``.

    Each annotation carries ``relnet``: ``kind`` and ``role`` of its class, ``crowd_group`` (an
    id unique within the split, or None), ``max_gt_iou`` (its largest IoU with another object of
    the image, the crowd density of Adaptive NMS), and for tokens ``context_anchor`` (the
    annotation id of the anchor that decides its class) and ``context_gap`` (edge gap to it, px).
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    groups = 0
    for image_id, scene in enumerate(scenes, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": f"{split}/{image_id:06d}.png",
                "width": scene.width,
                "height": scene.height,
            }
        )
        first = len(annotations) + 1
        boxes = [o.box for o in scene.objects]
        local_groups = sorted({o.group for o in scene.objects if o.group is not None})
        group_id = {g: groups + k for k, g in enumerate(local_groups)}
        groups += len(local_groups)
        for k, obj in enumerate(scene.objects):
            x1, y1, x2, y2 = obj.box
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            ious = [box_iou(obj.box, b) for j, b in enumerate(boxes) if j != k]
            category = CATEGORY_BY_ID[obj.category_id]
            anchor = None if obj.anchor is None else scene.objects[obj.anchor]
            annotations.append(
                {
                    "id": first + k,
                    "image_id": image_id,
                    "category_id": obj.category_id,
                    "bbox": [x1, y1, w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "relnet": {
                        "kind": category.kind,
                        "role": category.role,
                        "crowd_group": None if obj.group is None else group_id[obj.group],
                        "max_gt_iou": round(max(ious, default=0.0), 4),
                        "context_anchor": None if obj.anchor is None else first + obj.anchor,
                        "context_gap": None
                        if anchor is None
                        else round(edge_gap(obj.box, anchor.box), 2),
                    },
                }
            )
    return {
        "info": {
            "description": "relnet built-in synthetic relation benchmark",
            "version": str(version),
            "split": split,
            "relnet_config": asdict(config),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }
