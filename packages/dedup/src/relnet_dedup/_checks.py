"""Checks shared by this package's public functions, built on :mod:`relnet_core.checks`.

Every public function of this package checks its inputs here first, so that bad input fails with
one clear ``ValueError`` at the boundary, naming the argument and the value, and never deep
inside torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from relnet_core.checks import check_float, check_tensor


def check_detections(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor | None = None,
    *,
    prefix: str = "",
    idxs_name: str = "idxs",
) -> None:
    """Raise ``ValueError`` unless boxes ``[N, 4]``, scores ``[N]`` and idxs ``[N]`` agree.

    Boxes and scores must be finite floating tensors on one device; idxs (group ids) an integer
    tensor. ``prefix`` is put in front of the argument names (``"gt_"`` names ``gt_boxes``);
    ``idxs_name`` is what the caller calls its group ids.
    """
    name_b, name_s, name_i = f"{prefix}boxes", f"{prefix}scores", prefix + idxs_name
    check_box_matrix(name_b, boxes)
    check_finite_vector(name_s, scores, boxes, name_b)
    if idxs is not None:
        check_group_ids(name_i, idxs, boxes, name_b)


def check_box_matrix(name: str, boxes: Tensor) -> None:
    """Raise ``ValueError`` unless ``boxes`` is a finite floating tensor of shape ``[N, 4]``."""
    check_tensor(name, boxes, shape=(None, 4))


def check_finite_vector(
    name: str, values: Tensor, boxes: Tensor, boxes_name: str = "boxes"
) -> None:
    """Raise ``ValueError`` unless ``values`` is a finite floating ``[N]`` tensor matching boxes."""
    _check_vector(name, values, boxes, boxes_name)
    check_tensor(name, values)


def check_group_ids(name: str, idxs: Tensor, boxes: Tensor, boxes_name: str = "boxes") -> None:
    """Raise ``ValueError`` unless ``idxs`` is an integer ``[N]`` tensor matching boxes."""
    _check_vector(name, idxs, boxes, boxes_name)
    if idxs.is_floating_point() or idxs.is_complex() or idxs.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of group ids, got dtype {idxs.dtype}")


def check_rows(name: str, values: Tensor, boxes: Tensor, boxes_name: str = "boxes") -> Tensor:
    """Raise ``ValueError`` unless ``values`` is a finite floating ``[N, D]`` tensor matching
    boxes ``[N, 4]`` on its device (appearance features); return it."""
    check_tensor(name, values, finite=False, shape=(boxes.shape[0], None))
    if values.device != boxes.device:
        raise ValueError(f"{name} is on {values.device} but {boxes_name} on {boxes.device}")
    return check_tensor(name, values)


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is a Python ``bool``; the message says ``NAME must be True or False``.

    Stricter than :func:`relnet_core.checks.check_bool`, which also takes numpy bools: a flag
    stored in a configuration stays a plain ``bool``.
    """
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_threshold(name: str, value: object, low: float, high: float) -> float:
    """``value`` as a float if ``low <= value <= high`` (NaN, bool and strings fail)."""
    return check_float(name, value, low=low, high=high)


def check_thresholds(name: str, value: object, *, distinct: bool = False) -> tuple[float, ...]:
    """The IoU thresholds eta as floats, each in ``(0, 1]``, from a non-empty sequence (list,
    tuple, 1-d tensor or numpy array) of numbers; with ``distinct``, no threshold twice."""
    if isinstance(value, Tensor):
        if value.dim() != 1:
            raise ValueError(f"{name} must be a 1-d tensor, got shape {tuple(value.shape)}")
        value = value.tolist()
    elif type(value).__module__ == "numpy":  # an array: its elements as Python numbers
        value = value.tolist()  # type: ignore[attr-defined]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(
            f"{name} must be a sequence of IoU thresholds in (0, 1] such as (0.5, 0.7), "
            f"got {value!r}"
        )
    if len(value) == 0:
        raise ValueError(f"{name} must hold at least one IoU threshold, got none")
    etas = tuple(
        check_float(f"{name}[{i}]", eta, low=0.0, high=1.0, low_open=True)
        for i, eta in enumerate(value)
    )
    if distinct and len(set(etas)) != len(etas):
        raise ValueError(f"{name} must be distinct, got {list(etas)}")
    return etas


def _check_vector(name: str, values: Tensor, boxes: Tensor, boxes_name: str) -> None:
    check_tensor(name, values, floating=False, finite=False)
    if values.dim() != 1 or values.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"{name} must have shape [N] to match {boxes_name} {tuple(boxes.shape)}, "
            f"got {tuple(values.shape)}"
        )
    if values.device != boxes.device:
        raise ValueError(f"{name} is on {values.device} but {boxes_name} on {boxes.device}")
