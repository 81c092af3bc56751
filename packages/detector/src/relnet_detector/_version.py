"""The version of relnet-detector (read by hatch and written into every checkpoint)."""

__version__ = "0.2.3"
