"""The data of :func:`relnet_detector.train`, checked before any work (issue 17).

- The annotation files are checked record by record (:mod:`relnet_detector.datasets.coco_file`).
- Every image file's header is read (not its pixels): more than ``MAX_PIXELS`` pixels is an
  error; a size other than the annotation's ``width`` / ``height`` is a warning naming the files,
  and an error when a box lies outside the real image (the boxes were clipped to the stated size).
- A few images are decoded (first, middle, last): if none decodes, the folder is wrong.
- The ``val`` split, when there is one, must have the train split's categories.
- A fingerprint of the training split (image ids, files, sizes, boxes, labels) goes into every
  checkpoint, so that a resume on other data is refused.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..config import TrainConfig
from ..datasets.coco import CocoFolder, annotation_path, train_transforms
from ..datasets.coco.annotations import CocoFile, read_coco_file
from ..datasets.coco.images import check_pixels
from .distributed import DistInfo

__all__ = ["TrainingData", "check_image_files", "fingerprint", "open_training_data"]

LISTED = 3  # files named in a message, then a count


@dataclass(frozen=True)
class TrainingData:
    """The train split, the val split of the per-epoch mAP (or None) and the train split's
    fingerprint (sha256 hex)."""

    train: CocoFolder
    val: CocoFolder | None
    fingerprint: str


def open_training_data(
    data_dir: str | os.PathLike[str], tc: TrainConfig, info: DistInfo
) -> TrainingData:
    """Open and check ``data_dir``'s splits (ranks other than 0 keep the warnings to
    themselves).

    Raises:
        ValueError: a missing or malformed annotation file, an image too large or smaller than
            its boxes, no decodable image, or a val split with other categories; the message
            names the file or the ids.
    """
    with warnings.catch_warnings():
        if not info.is_main:
            warnings.simplefilter("ignore")
        try:
            dataset = CocoFolder(data_dir, "train", transforms=train_transforms(tc.hflip))
        except FileNotFoundError as err:
            raise ValueError(str(err)) from err
        check_image_files(dataset.root / "images", dataset.annotation_file)
        val_file = _check_val(data_dir, dataset)
    probes = sorted({0, len(dataset) // 2, len(dataset) - 1})
    with warnings.catch_warnings(record=True) as problems:
        warnings.simplefilter("always")
        decoded = sum(dataset[i] is not None for i in probes)
    dataset.skipped = 0
    if decoded == 0:
        raise ValueError(
            f"{data_dir}: none of the images tried can be decoded, e.g. {problems[0].message}"
        )
    val = None
    if val_file is not None and tc.val_images > 0 and info.is_main:
        val = CocoFolder(data_dir, "val")
    return TrainingData(dataset, val, fingerprint(dataset.annotation_file))


def check_image_files(images_dir: Path, coco_file: CocoFile) -> None:
    """Compare every image file's real size (from its header) with the annotation's.

    Raises:
        ValueError: an image above ``MAX_PIXELS``, or a box outside its real image.
    """
    mismatched = []
    for record in coco_file.images:
        path = images_dir / record.file_name
        try:
            with Image.open(path) as image:
                size = image.size
        except (OSError, UnidentifiedImageError, SyntaxError):
            continue  # undecodable files are skipped (and counted) while training
        check_pixels(path, size)
        if size == (record.width, record.height):
            continue
        mismatched.append(f"{path} is {size[0]} x {size[1]}, not {record.width} x {record.height}")
        if record.boxes.size:
            x2, y2 = record.boxes[:, 2].max(), record.boxes[:, 3].max()
            if x2 > size[0] + 0.5 or y2 > size[1] + 0.5:  # half a pixel of rounding
                raise ValueError(
                    f"{coco_file.path}: image {record.image_id} ({path}) is {size[0]} x "
                    f"{size[1]} pixels, but the file says {record.width} x {record.height} and "
                    f"its boxes reach x = {x2:g}, y = {y2:g}, outside the real image"
                )
    if mismatched:
        more = f" and {len(mismatched) - LISTED} more" if len(mismatched) > LISTED else ""
        warnings.warn(
            f"{coco_file.path}: {len(mismatched)} image(s) differ in size from their width / "
            f"height: {'; '.join(mismatched[:LISTED])}{more}",
            stacklevel=3,
        )


def _check_val(data_dir: str | os.PathLike[str], train: CocoFolder) -> CocoFile | None:
    path = annotation_path(data_dir, "val")
    if not path.is_file():
        return None
    val = read_coco_file(path)
    train_ids, val_ids = train.categories.dataset_ids, val.categories.dataset_ids
    if train_ids != val_ids:
        only_train = sorted(set(train_ids) - set(val_ids))
        only_val = sorted(set(val_ids) - set(train_ids))
        detail = (
            f"only in train: {only_train}, only in val: {only_val}"
            if only_train or only_val
            else f"in another order: {list(val_ids)} against {list(train_ids)}"
        )
        raise ValueError(
            f"{path}: its category ids differ from {train.annotation_file.path}'s ({detail}); "
            "the model's labels would mean other classes on val"
        )
    return val


def fingerprint(coco_file: CocoFile) -> str:
    """sha256 of the training targets: image ids, file names, sizes, boxes and labels."""
    digest = hashlib.sha256()
    for r in coco_file.images:
        digest.update(f"{r.image_id}\0{r.file_name}\0{r.width}\0{r.height}\0".encode())
        digest.update(r.boxes.tobytes())
        digest.update(r.labels.tobytes())
    digest.update(repr(coco_file.categories.dataset_ids).encode())
    return digest.hexdigest()
