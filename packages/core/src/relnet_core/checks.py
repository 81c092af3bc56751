"""Checks for a public boundary: each returns the checked value or raises a ``ValueError`` that
names the argument and the offending value.

Numbers accept Python numbers and numpy scalars (``np.int64(5)``, ``np.float32(0.7)``) and reject
``bool`` and strings; tensors are checked for type, dtype, shape and finiteness, and a non-finite
tensor's message names the first bad index. The detector and the command line reuse these, so
that a user's mistake reads the same everywhere.

Example:
    >>> check_int("first_n", 5, low=1)
    5
    >>> check_float("eta", 0.7, low=0.0, high=1.0, low_open=True)
    0.7
    >>> check_choice("method", "linear", ("gaussian", "linear"))
    'linear'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["check_bool", "check_choice", "check_float", "check_int", "check_tensor"]


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as a plain ``int``, if it is an integer (Python or numpy) in ``[low, high]``.

    Args:
        name (str): the argument's name, for the message.
        value (object): a Python ``int`` or a numpy integer scalar; ``bool`` and floats (even
            integral ones like ``5.0``) are refused.
        low (int, optional): smallest allowed value.
        high (int, optional): largest allowed value.

    Returns:
        int: the value.

    Raises:
        ValueError: not an integer, or out of range; the message names ``name`` and ``value``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {_describe(value)}")
    result = int(value)
    if (low is not None and result < low) or (high is not None and result > high):
        raise ValueError(f"{name} must be {_int_range(low, high)}, got {result}")
    return result


def check_float(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a plain ``float``, if it is a real number (not NaN) in the given interval.

    Args:
        name (str): the argument's name, for the message.
        value (object): a Python ``int`` or ``float`` or a numpy scalar; ``bool``, strings and
            NaN are refused.
        low (float): lower bound of the interval (``-inf`` by default).
        high (float): upper bound of the interval (``inf`` by default).
        low_open (bool): exclude ``low`` itself (``(low, ...``).
        high_open (bool): exclude ``high`` itself (``..., high)``); with the default ``high = inf``
            this refuses infinity.

    Returns:
        float: the value.

    Raises:
        ValueError: not a number, NaN, or outside the interval; the message names ``name`` and
        ``value``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {_describe(value)}")
    result = float(value)
    above = result > low if low_open else result >= low
    below = result < high if high_open else result <= high
    if not (above and below):  # False for NaN
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {result}")
    return result


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a ``bool`` (or a numpy bool); ``0``, ``1`` and strings are refused.

    Raises:
        ValueError: any other value; the message names ``name`` and ``value``.
    """
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {_describe(value)}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``.

    Raises:
        ValueError: any other value; the message lists the choices.
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_tensor(
    name: str,
    value: object,
    *,
    floating: bool = True,
    finite: bool = True,
    shape: tuple[int | None, ...] | None = None,
) -> Tensor:
    """``value`` if it is a tensor of the expected kind.

    Args:
        name (str): the argument's name, for the message.
        value (object): the tensor.
        floating (bool): require a floating dtype.
        finite (bool): require every element of a floating tensor to be finite (not checked while
            tracing or exporting, where data-dependent checks cannot run).
        shape (tuple of int or None, optional): the expected shape; ``None`` entries allow any size
            (``(None, 4)`` is ``[N, 4]``).

    Returns:
        Tensor: the value.

    Raises:
        ValueError: not a tensor, another dtype or shape, or a NaN or inf element (the message
        names the first one's index and value).
    """
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {_describe(value)}")
    if floating and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {value.dtype}")
    if shape is not None and (
        value.dim() != len(shape)
        or any(e is not None and e != s for e, s in zip(shape, value.shape, strict=True))
    ):
        expected = "[" + ", ".join("*" if e is None else str(e) for e in shape) + "]"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    # A finite sum (one pass) proves every element finite; only otherwise (a NaN or inf, or a
    # sum that overflowed) are the elements looked at one by one.
    if finite and value.is_floating_point() and not _tracing() and not _finite_sum(value):
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            first = bad.nonzero()[0].tolist()  # index of the first bad element, row-major
            index = first[0] if len(first) == 1 else tuple(first)
            raise ValueError(
                f"{name} holds NaN or inf, first at index {index}: {value[tuple(first)].item()}"
            )
    return value


def _finite_sum(value: Tensor) -> bool:
    """True when the sum of ``value``'s elements (in its dtype, float32 at least) is finite."""
    return bool(torch.isfinite(value.sum(dtype=torch.promote_types(value.dtype, torch.float32))))


def _tracing() -> bool:
    """True while tracing or exporting (torch.jit.is_tracing outside TorchScript; typed)."""
    return bool(torch._C._is_tracing() or torch.compiler.is_compiling())


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an int in [{low}, {high}]"
    if low is not None:
        return f"an int >= {low}"
    return f"an int <= {high}"
