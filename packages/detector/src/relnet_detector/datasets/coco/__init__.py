"""COCO folders: the dataset (:mod:`~relnet_detector.datasets.coco.folder`), the checked annotation
file (:mod:`~relnet_detector.datasets.coco.annotations`), image decoding
(:mod:`~relnet_detector.datasets.coco.images`) and the category map
(:mod:`~relnet_detector.datasets.coco.categories`).

Exports what the module ``relnet_detector.datasets.coco`` exported before 0.2.1 (the folder's
names), and the category map.
"""

from .categories import CategoryMap
from .folder import (
    SPLITS,
    CocoFolder,
    Item,
    annotation_path,
    collate,
    eval_transforms,
    train_transforms,
)

__all__ = [
    "SPLITS",
    "CategoryMap",
    "CocoFolder",
    "Item",
    "annotation_path",
    "collate",
    "eval_transforms",
    "train_transforms",
]
