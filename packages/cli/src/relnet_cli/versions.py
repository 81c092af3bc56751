"""Versions of the relnet packages and the libraries under them, from installed metadata."""

from __future__ import annotations

import platform
from importlib import metadata

RELNET = (
    "relnet-cli",
    "relnet-detector",
    "relnet-dedup",
    "relnet-heads",
    "relnet-attention",
    "relnet-geometry",
    "relnet-core",
)
THIRD_PARTY = ("torch", "torchvision", "pycocotools", "typer", "rich")


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``"not installed"``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_lines() -> list[str]:
    """``name version`` for every relnet package, then its main dependencies and Python."""
    names = (*RELNET, *THIRD_PARTY)
    width = max(len(n) for n in names)
    lines = [f"{name:<{width}}  {installed_version(name)}" for name in names]
    lines.append(f"{'python':<{width}}  {platform.python_version()}")
    return lines
