"""The ``relnet`` command: thin Typer + rich commands over the relnet libraries."""

from ._version import __version__

__all__ = ["__version__"]
