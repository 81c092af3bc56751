"""The map between a dataset's category ids and the model's contiguous labels.

A COCO file's category ids are whatever the file says (COCO's own run 1..90 with gaps; others start
at 0 or jump). The model predicts contiguous labels ``1 .. C`` (0 is torchvision's background);
every detection written back to disk uses the dataset's ids again. Checkpoints keep the map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CategoryMap"]


@dataclass(frozen=True)
class CategoryMap:
    """Dataset category ids and names, in label order: label ``k`` (1-based) is entry ``k - 1``.

    Attributes:
        dataset_ids: the dataset's category id of labels ``1 .. C``.
        names: the category names, aligned with ``dataset_ids``.

    Example:
        >>> categories = CategoryMap(dataset_ids=(3, 17, 90), names=("cat", "dog", "bird"))
        >>> categories.label(17), categories.category_id(3)
        (2, 90)
    """

    dataset_ids: tuple[int, ...]
    names: tuple[str, ...]
    _labels: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids, names = tuple(self.dataset_ids), tuple(self.names)
        for k, cid in enumerate(ids):
            if isinstance(cid, bool) or not isinstance(cid, int):
                raise ValueError(f"dataset_ids[{k}] must be an int, got {cid!r}")
        for k, name in enumerate(names):
            if not isinstance(name, str):
                raise ValueError(f"names[{k}] must be a string, got {name!r}")
        if len(ids) != len(names):
            raise ValueError(f"{len(ids)} dataset_ids but {len(names)} names")
        if not ids:
            raise ValueError("a category map needs at least one category, got none")
        labels: dict[int, int] = {}
        for k, cid in enumerate(ids):
            if cid in labels:
                raise ValueError(f"dataset_ids[{k}] repeats category id {cid}")
            labels[cid] = k + 1
        object.__setattr__(self, "dataset_ids", ids)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_labels", labels)

    @classmethod
    def from_categories(cls, categories: Sequence[Mapping[str, Any]]) -> CategoryMap:
        """From COCO ``categories`` records (``{"id", "name"}``), sorted by id."""
        ordered = sorted(categories, key=lambda c: int(c["id"]))
        return cls(tuple(int(c["id"]) for c in ordered), tuple(str(c["name"]) for c in ordered))

    @property
    def num_classes(self) -> int:
        """C, the number of object categories (without the background)."""
        return len(self.dataset_ids)

    def label(self, category_id: int) -> int:
        """The contiguous label (1..C) of a dataset category id.

        Raises:
            ValueError: ``category_id`` is not one of :attr:`dataset_ids`.
        """
        try:
            return self._labels[int(category_id)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"unknown category id {category_id!r}: the dataset's are {list(self.dataset_ids)}"
            ) from None

    def category_id(self, label: int) -> int:
        """The dataset category id of a contiguous label (1..C).

        Raises:
            ValueError: ``label`` is not in ``1 .. C``.
        """
        if isinstance(label, bool) or not 1 <= int(label) <= self.num_classes:
            raise ValueError(f"label must lie in 1..{self.num_classes}, got {label!r}")
        return self.dataset_ids[int(label) - 1]

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain types for checkpoints and JSON: ``{"dataset_ids": [...], "names": [...]}``."""
        return {"dataset_ids": list(self.dataset_ids), "names": list(self.names)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryMap:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: missing keys or bad values, naming them.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a category map must be a dict, got {type(data).__name__}")
        missing = sorted({"dataset_ids", "names"} - set(data))
        if missing:
            raise ValueError(f"category map misses {', '.join(missing)}")
        ids, names = data["dataset_ids"], data["names"]
        if not isinstance(ids, list | tuple) or not isinstance(names, list | tuple):
            raise ValueError("category map dataset_ids and names must be lists")
        return cls(tuple(ids), tuple(names))
