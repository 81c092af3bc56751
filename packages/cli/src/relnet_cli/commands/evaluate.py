"""Placeholder until relnet_detector lands."""

from __future__ import annotations


def evaluate() -> None:
    """Not yet available."""
