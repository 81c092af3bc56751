"""Detections and relation weights drawn on images (``torchvision.utils.draw_bounding_boxes``).

Boxes are ``(x1, y1, x2, y2)`` in pixels of the original image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch import Tensor
from torchvision.transforms.functional import pil_to_tensor, to_pil_image
from torchvision.utils import draw_bounding_boxes

from .images import COLOURS, font, save_png, upscale

REFERENCE = "#1f5fff"  # the reference object of a relation figure
RELATED = "#ff3030"  # the objects it attends to


def _boxes(
    image: Image.Image, boxes: Tensor, labels: list[str], colours: list[str], width: int
) -> Image.Image:
    """``image`` enlarged for legibility with ``boxes`` drawn and labelled (white text on the
    box's colour, above the box where there is room); a PIL image."""
    big, factor = upscale(image)
    if len(boxes) == 0:
        return big
    scaled = boxes.detach().cpu().float() * factor  # [K, 4]
    drawn = draw_bounding_boxes(pil_to_tensor(big), scaled, colors=colours, width=width)
    picture: Image.Image = to_pil_image(drawn)
    draw = ImageDraw.Draw(picture)
    text_font = font(13)
    for (x1, y1, _, _), label, colour in zip(scaled.tolist(), labels, colours, strict=True):
        left, top, right, bottom = draw.textbbox((0, 0), label, font=text_font)
        w, h = right - left + 6, bottom - top + 4
        y = y1 - h if y1 >= h else y1
        draw.rectangle((x1, y, x1 + w, y + h), fill=colour)
        draw.text((x1 + 3, y + 2 - top), label, fill="white", font=text_font)
    return picture


def draw_detections(
    image: Image.Image,
    boxes: Tensor,
    labels: Sequence[int],
    names: Sequence[str],
    scores: Sequence[float],
    out: Path,
) -> Path:
    """Boxes ``[K, 4]`` with ``name score`` labels, one colour per class label, the highest
    score drawn last (on top); PNG ``out``."""
    colours = [COLOURS[int(label) % len(COLOURS)] for label in labels][::-1]
    text = [f"{name} {score:.2f}" for name, score in zip(names, scores, strict=True)][::-1]
    return save_png(_boxes(image, boxes.flip(0), text, colours, width=2), out)


@dataclass
class RelationPanel:
    """One relation module's view of the reference object.

    Attributes:
        title: e.g. ``"fc1 relation module, all 16 relations"``.
        boxes (Tensor[K, 4]): the objects with the highest weights.
        names: their class names.
        weights: their relation weights to the reference object.
    """

    title: str
    boxes: Tensor
    names: list[str]
    weights: list[float]


def draw_relations(
    image: Image.Image,
    reference: Tensor,
    reference_name: str,
    panels: Sequence[RelationPanel],
    out: Path,
) -> Path:
    """The paper's Fig. 4: per panel, the reference box (blue) and the related boxes (red,
    labelled with their weight), side by side with a title strip; PNG ``out``."""
    pictures = []
    for panel in panels:
        boxes = torch.cat([panel.boxes.reshape(-1, 4), reference.reshape(1, 4)])  # [K + 1, 4]
        labels = [f"{n} {w:.2f}" for n, w in zip(panel.names, panel.weights, strict=True)]
        colours = [RELATED] * len(panel.names) + [REFERENCE]
        pictures.append(
            (panel.title, _boxes(image, boxes, [*labels, reference_name], colours, width=3))
        )
    strip = 24
    width = sum(p.width for _, p in pictures) + 8 * (len(pictures) - 1)
    height = max(p.height for _, p in pictures) + strip
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for title, picture in pictures:
        canvas.paste(picture, (left, strip))
        draw.text((left + 4, strip // 2), title, fill="black", font=font(14), anchor="lm")
        left += picture.width + 8
    return save_png(canvas, out)
