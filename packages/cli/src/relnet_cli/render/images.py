"""Reading images for the model and writing PNGs atomically."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFont, UnidentifiedImageError

from relnet_core.files import atomic_path

from ..errors import CliError

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's built-in font at ``size`` pixels (a fixed small one on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def read_rgb(path: Path) -> Image.Image:
    """The image at ``path`` in 8-bit RGB, as the detector's datasets read it (16-bit grey
    scaled, not clipped); an unreadable, non-image or too large file is a :class:`CliError`."""
    from relnet_detector.datasets.coco.images import open_rgb

    try:
        return open_rgb(path)
    except UnidentifiedImageError:
        raise CliError(f"{path} is not an image PIL can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CliError(f"{path}: cannot decode the image ({err})") from None


def save_png(image: Image.Image, out: Path) -> Path:
    """Write ``image`` to ``out`` as PNG; the file appears complete or not at all."""
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out


def upscale(image: Image.Image, min_side: int = 480) -> tuple[Image.Image, int]:
    """``image`` enlarged by a whole factor (nearest neighbour) so its short side is
    ``>= min_side``, for legible labels on small images; and the factor."""
    factor = max(1, -(-min_side // max(1, min(image.size))))
    if factor == 1:
        return image, 1
    return image.resize(
        (image.width * factor, image.height * factor), Image.Resampling.NEAREST
    ), factor
