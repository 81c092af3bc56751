"""Placeholder until relnet_detector lands."""

from __future__ import annotations


def predict() -> None:
    """Not yet available."""
