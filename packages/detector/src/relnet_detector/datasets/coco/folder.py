"""COCO folders as detection datasets through torchvision's ``CocoDetection`` and ``transforms.v2``.

Layout (DESIGN.md, Detector)::

    DIR/images/<file_name>                  file_name may hold subfolders: "train/000123.jpg"
    DIR/annotations/instances_train.json
    DIR/annotations/instances_val.json

An item is ``(image, target)``: ``image`` a ``tv_tensors.Image`` ``[3, H, W]`` float32 in
``[0, 1]`` and ``target`` a dict with ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY pixels,
``[M, 4]`` float32), ``labels`` (int64 ``[M]``, contiguous ``1 .. C``) and ``image_id`` (int).
Grayscale, 16-bit grayscale (scaled to 8 bit), RGBA, palette and CMYK images load as RGB
(:mod:`relnet_detector.datasets.images`). An image that cannot be decoded, or holds more than
``images.MAX_PIXELS`` pixels, gives ``None`` with a warning and is counted in
:attr:`CocoFolder.skipped`; :func:`collate` drops it, so training goes on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets, tv_tensors
from torchvision.transforms import v2

from .annotations import CocoFile, ImageRecord, read_coco_file
from .categories import CategoryMap
from .images import open_rgb

__all__ = [
    "SPLITS",
    "CocoFolder",
    "Item",
    "annotation_path",
    "collate",
    "eval_transforms",
    "train_transforms",
]

Item = tuple[tv_tensors.Image, dict[str, Any]]
SPLITS = ("train", "val")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def annotation_path(root: str | os.PathLike[str], split: str) -> Path:
    """``root/annotations/instances_{split}.json``."""
    return Path(root) / "annotations" / f"instances_{split}.json"


class _CheckedCocoDetection(datasets.CocoDetection):  # type: ignore[misc]
    """``CocoDetection`` over a checked :class:`CocoFile`: targets are its clipped, non-crowd
    boxes with contiguous labels (so torchvision's v2 wrapper builds ``BoundingBoxes`` from
    them), and images convert to RGB whatever their mode."""

    def __init__(self, images_dir: Path, coco_file: CocoFile) -> None:
        datasets.VisionDataset.__init__(self, str(images_dir))
        self.coco = coco_file.coco
        self.ids = [r.image_id for r in coco_file.images]
        self.records: dict[int, ImageRecord] = {r.image_id: r for r in coco_file.images}

    def _load_image(self, id: int) -> Image.Image:
        return open_rgb(os.path.join(self.root, self.records[id].file_name))

    def _load_target(self, id: int) -> list[Any]:
        record = self.records[id]
        xywh = record.boxes.copy()  # [M, 4]
        xywh[:, 2:] -= xywh[:, :2]
        return [
            {"bbox": box, "category_id": int(label)}
            for box, label in zip(xywh.tolist(), record.labels.tolist(), strict=True)
        ]


class CocoFolder(Dataset[Item | None]):
    """A split of a COCO folder (``DIR/images``, ``DIR/annotations/instances_{split}.json``).

    Args:
        root (str | PathLike): the folder ``DIR``.
        split (str): ``"train"`` or ``"val"`` (any name ``S`` with an ``instances_S.json`` works).
        transforms (callable, optional): ``transforms.v2`` applied to ``(image, target)``;
            :func:`eval_transforms` by default. They receive a PIL image and must end with a
            float image (as :func:`train_transforms` and :func:`eval_transforms` do).

    Attributes:
        coco: the ground truth (``pycocotools.coco.COCO``) for ``COCOeval``.
        categories (CategoryMap): dataset category ids and names in label order.
        annotation_file (CocoFile): the checked file (clipped / dropped / crowd counts).
        skipped (int): images of this process that failed to decode so far.

    Raises:
        FileNotFoundError: no annotation file or images folder.
        ValueError: a malformed annotation file, naming it, the record and the problem.

    Example:
        >>> data = CocoFolder("my_coco", "train", transforms=train_transforms(hflip=0.5))
        >>> image, target = data[0]  # Image[3, H, W], {"boxes": [M, 4], "labels": [M], ...}
    """

    def __init__(
        self, root: str | os.PathLike[str], split: str = "train", *, transforms: Any = None
    ) -> None:
        self.root = Path(root)
        if not isinstance(split, str) or not split:
            raise ValueError(f"split must be a non-empty string such as 'train', got {split!r}")
        images_dir = self.root / "images"
        ann_path = annotation_path(self.root, split)
        if not ann_path.is_file():
            raise FileNotFoundError(
                f"no annotation file {ann_path}: a COCO folder holds images/ and "
                f"annotations/instances_{{train,val}}.json"
            )
        if not images_dir.is_dir():
            raise FileNotFoundError(f"no images folder {images_dir} beside {ann_path}")
        self.annotation_file = read_coco_file(ann_path)
        self.split = split
        self.coco = self.annotation_file.coco
        self.categories: CategoryMap = self.annotation_file.categories
        self.transforms = transforms if transforms is not None else eval_transforms()
        self._base = _CheckedCocoDetection(images_dir, self.annotation_file)
        self._wrapped = datasets.wrap_dataset_for_transforms_v2(
            self._base, target_keys={"image_id", "boxes", "labels"}
        )
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._base.ids)

    @property
    def image_ids(self) -> list[int]:
        """Image ids in item order."""
        return list(self._base.ids)

    def __getitem__(self, index: int) -> Item | None:
        image_id = self._base.ids[index]
        try:
            image, target = self._wrapped[index]
        except _DECODE_ERRORS as err:
            self.skipped += 1
            file_name = self._base.records[image_id].file_name
            warnings.warn(
                f"{self.root / 'images' / file_name}: cannot decode image {image_id} ({err}); "
                "skipped",
                stacklevel=2,
            )
            return None
        if "boxes" not in target:  # torchvision's wrapper leaves an image without boxes bare
            target["boxes"] = tv_tensors.BoundingBoxes(
                torch.zeros(0, 4),
                format=tv_tensors.BoundingBoxFormat.XYXY,
                canvas_size=(image.height, image.width),
            )
            target["labels"] = torch.zeros(0, dtype=torch.int64)
        target["image_id"] = int(image_id)
        image, target = self.transforms(image, target)
        return image, target


def train_transforms(hflip: float = 0.5) -> v2.Compose:
    """PIL image to float ``[0, 1]`` ``tv_tensors.Image``, with a random horizontal flip (moving
    the boxes) of probability ``hflip``."""
    if isinstance(hflip, bool) or not isinstance(hflip, int | float) or not 0.0 <= hflip <= 1.0:
        raise ValueError(f"hflip must be a probability in [0, 1], got {hflip!r}")
    steps: list[Any] = [v2.ToImage()]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=float(hflip)))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps)


def eval_transforms() -> v2.Compose:
    """PIL image to float ``[0, 1]`` ``tv_tensors.Image``; boxes unchanged."""
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def collate(batch: list[Item | None]) -> tuple[list[Tensor], list[dict[str, Any]]]:
    """Images and targets as lists (torchvision's detection input), leaving out ``None`` items
    (images that failed to decode)."""
    kept = [item for item in batch if item is not None]
    return [image for image, _ in kept], [target for _, target in kept]
