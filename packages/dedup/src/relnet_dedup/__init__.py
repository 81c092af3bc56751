"""Learned duplicate removal (Relation Networks for Object Detection, §4.3)."""

from ._version import __version__

__all__ = ["__version__"]
