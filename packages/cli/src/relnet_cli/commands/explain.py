"""Placeholder until relnet_detector lands."""

from __future__ import annotations


def explain() -> None:
    """Not yet available."""
