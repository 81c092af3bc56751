"""Dataclasses to and from plain Python types (TOML tables, checkpoint dicts), checking every key
and type against the dataclass's annotations; a message names the key (``model.rpn.nms_thresh``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    return value


def from_plain(base: Any, data: Any, where: str) -> Any:
    """``base`` (a dataclass instance) with the fields in plain ``data`` replaced, checking keys
    and types; a nested table overrides the fields of ``base``'s value, so a key left out keeps
    the preset's value, not the nested class's default."""
    if not isinstance(data, Mapping):
        name = where.rstrip(".") or "config"
        raise ValueError(f"{name} must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(type(base))
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(where + k for k in unknown)}")
    values = {k: _convert(hints[k], v, f"{where}{k}", getattr(base, k)) for k, v in data.items()}
    try:
        return dataclasses.replace(base, **values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where.rstrip('.') or 'config'}: {err}") from err


def _convert(hint: Any, value: Any, key: str, base: Any = None) -> Any:
    """``value`` checked against type ``hint``; a dataclass table overrides ``base``'s fields."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        cls = typing.cast(type, hint)
        fresh = base if isinstance(base, cls) else cls()
        return from_plain(fresh, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{key} must have {len(args)} entries, got {len(value)}")
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # a bug of ours, not the user's
