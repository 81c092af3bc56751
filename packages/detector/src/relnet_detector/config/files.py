"""TOML files of a :class:`~relnet_detector.config.DetectorConfig`, and named presets.

``load_config("tiny")`` or ``load_config("my.toml")``; ``save_config(config, "my.toml")``. A TOML
file lists only what differs from the ``"tiny"`` defaults or all fields; unknown keys, wrong types
and bad values raise ``ValueError`` naming the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from relnet_core.files import write_text

from .presets import PRESETS
from .schema import DetectorConfig

__all__ = ["load_config", "save_config"]


def load_config(name_or_path: str | os.PathLike[str]) -> DetectorConfig:
    """A named preset (``"tiny"``, ``"r50-fpn"``) or a TOML file written by :func:`save_config`.

    Raises:
        ValueError: an unknown preset name, a file that is not TOML, or a bad key or value
            (the message names the file and the key).
        FileNotFoundError: a path that does not exist.
    """
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        return PRESETS[name_or_path]()
    path = Path(name_or_path)
    if path.suffix != ".toml":
        raise ValueError(
            f"unknown preset {str(name_or_path)!r}: expected one of {sorted(PRESETS)} "
            "or a .toml file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return DetectorConfig.from_dict(data)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"config {path}: {err}") from err


def save_config(config: DetectorConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as TOML (every field; None values are left out)."""
    path = Path(path)
    text = tomli_w.dumps(_drop_none(config.to_dict()))
    written: Path = write_text(path, text)
    return written


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None
    }
