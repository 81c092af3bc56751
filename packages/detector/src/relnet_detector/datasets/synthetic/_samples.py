"""A PNG grid of sample images with their ground-truth boxes and class names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

KIND_COLORS = {"anchor": "#1565c0", "token": "#d50000", "shape": "#2e7d32", "crowd": "#ef6c00"}
"""Box colours: anchors blue, context tokens red, plain shapes green, crowd members orange."""


def _pick(
    images: list[dict[str, Any]], by_image: dict[int, list[dict[str, Any]]], n: int
) -> list[int]:
    """Up to ``n`` image ids: the first empty one, then images that show tokens and crowds."""

    def has(image_id: int, role: str) -> bool:
        return any(a["relnet"]["role"] == role for a in by_image.get(image_id, []))

    def crowded(image_id: int) -> bool:
        return any(a["relnet"]["crowd_group"] is not None for a in by_image.get(image_id, []))

    def mixed(image_id: int) -> bool:
        return (
            len(
                {
                    a["category_id"]
                    for a in by_image.get(image_id, [])
                    if a["relnet"]["role"] == "token"
                }
            )
            > 1
        )

    ids = [int(im["id"]) for im in images]
    empty = [i for i in ids if not by_image.get(i)][:1]
    best = [i for i in ids if mixed(i) and crowded(i)]
    good = [i for i in ids if has(i, "token") and crowded(i) and i not in best]
    rest = [i for i in ids if i not in best and i not in good and i not in empty]
    chosen = (best + good + rest)[: max(n - len(empty), 0)]
    return sorted(chosen + empty)[:n]


def draw_samples(
    data_dir: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    n: int = 8,
    *,
    split: str = "val",
    scale: int = 3,
    columns: int = 4,
) -> Path:
    """Draw ``n`` images of a COCO folder with their boxes and class names into one PNG grid.

    Images that show the benchmark's properties (tokens of both types, crowds, one empty image)
    are preferred. Boxes: anchors blue, context tokens red, plain shapes green, crowd members
    orange; any COCO folder works (annotations without ``relnet`` fields are drawn green).

    Args:
        data_dir: folder holding ``images/`` and ``annotations/instances_{split}.json``.
        out_png: the PNG to write (parent folders are created).
        n: number of images.
        split: ``"train"`` or ``"val"``.
        scale: nearest-neighbour upscaling of each image, so that labels stay legible.
        columns: images per row.

    Returns:
        ``out_png`` as a :class:`~pathlib.Path`.
    """
    import torch
    from torchvision.utils import draw_bounding_boxes, make_grid, save_image

    if n < 1 or scale < 1 or columns < 1:
        raise ValueError(
            f"n, scale and columns must be >= 1, got n={n}, scale={scale}, columns={columns}"
        )
    root = Path(data_dir)
    path = root / "annotations" / f"instances_{split}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        ann.setdefault("relnet", {"role": "shape", "crowd_group": None})
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    images = {int(im["id"]): im for im in data["images"]}
    chosen = _pick(list(images.values()), by_image, n)
    if not chosen:
        raise ValueError(f"{path}: no images to draw")
    side = max(max(int(images[i]["width"]), int(images[i]["height"])) for i in chosen) * scale
    tiles = []
    for image_id in chosen:
        pixels = np.asarray(
            Image.open(root / "images" / images[image_id]["file_name"]).convert("RGB")
        )
        tile = torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # [3, H, W] uint8
        tile = tile.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)  # [3, sH, sW]
        anns = by_image.get(image_id, [])
        if anns:
            boxes = (
                torch.tensor([a["bbox"] for a in anns], dtype=torch.float32) * scale
            )  # [N, 4] xywh
            boxes[:, 2:] += boxes[:, :2]  # [N, 4] xyxy
            colors = [
                KIND_COLORS[
                    "crowd" if a["relnet"].get("crowd_group") is not None else a["relnet"]["role"]
                ]
                for a in anns
            ]
            labels = [names[int(a["category_id"])] for a in anns]
            tile = draw_bounding_boxes(
                tile, boxes, labels, colors=colors, width=2, fill_labels=True, label_colors="white"
            )
        canvas = torch.full((3, side, side), 255, dtype=torch.uint8)  # [3, side, side] white
        canvas[:, : tile.shape[1], : tile.shape[2]] = tile
        tiles.append(canvas)
    grid = make_grid(torch.stack(tiles), nrow=columns, padding=6, pad_value=255)  # [3, H', W']
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid.float() / 255.0, out)
    return out
