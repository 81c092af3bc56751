"""Decoding image files to 8-bit RGB, whatever their mode, with a cap on the pixel count.

- Palette and grey images with transparency go through RGBA before the alpha is dropped.
- 16-bit grey (``I;16`` as microscopes, depth cameras and medical exporters write, or ``I``) is
  scaled to 8 bit (``round(v / 257)``, so 65535 is 255) instead of PIL's clip to white.
- An image of more than :data:`MAX_PIXELS` pixels is refused before it is decoded: the detector
  resizes every image to its ``max_size`` (160 px in ``tiny``, 1333 in ``r50-fpn``), and an
  8000 x 8000 photo would take about 2 GB to decode and convert first.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

__all__ = ["MAX_PIXELS", "SIXTEEN_BIT", "check_pixels", "open_rgb", "to_rgb"]

MAX_PIXELS = 50_000_000  # 50 MP: above an 8000 x 6000 camera frame
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def check_pixels(path: str | os.PathLike[str], size: tuple[int, int]) -> None:
    """``ValueError`` naming ``path`` when ``size`` (width, height) is above :data:`MAX_PIXELS`."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{path}: {width} x {height} = {width * height / 1e6:.1f} MP is more than the "
            f"{MAX_PIXELS / 1e6:.0f} MP this loader decodes (the detector resizes every image to "
            "its max_size anyway): downscale the image and its annotations first"
        )


def open_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """The image file at ``path`` decoded to 8-bit RGB.

    Raises:
        ValueError: more than :data:`MAX_PIXELS` pixels (checked from the header).
        OSError, SyntaxError, PIL.Image.DecompressionBombError: PIL cannot decode the file.
    """
    with Image.open(path) as file:
        check_pixels(path, file.size)
        file.load()
        return to_rgb(file)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: transparency dropped after palette expansion, 16-bit grey scaled
    (not clipped) to 8 bit."""
    if image.mode in SIXTEEN_BIT:
        values = np.asarray(image, dtype=np.float64)  # [H, W]
        image = Image.fromarray(np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8), "L")
    elif image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")  # palette transparency, before dropping alpha
    return image.convert("RGB")
