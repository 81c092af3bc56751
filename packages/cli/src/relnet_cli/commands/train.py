"""Placeholder until relnet_detector lands."""

from __future__ import annotations


def train() -> None:
    """Not yet available."""
