"""``relnet eval --plots``: precision-recall curves per category and the confusion matrix, as
PNGs drawn with PIL (the numbers come from :mod:`relnet_detector.evaluation.analysis`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .curves import Chart, Line, draw_charts
from .images import font, save_png

CELL = 44  # pixels per cell of the confusion matrix


def draw_precision_recall(
    curves: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    names: Mapping[int, str],
    title: str,
    out: Path,
) -> Path:
    """One chart: precision against recall, a line per category (its name)."""
    lines = [
        Line(names.get(category, str(category)), list(recall), list(precision))
        for category, (recall, precision) in curves.items()
    ]
    return draw_charts([Chart(title, "recall", lines)], out)


def draw_confusion(counts: np.ndarray, names: Sequence[str], title: str, out: Path) -> Path:
    """The ``[C + 1, C + 1]`` counts as a grid (rows: ground truth and "background"; columns:
    detected as, and "missed"), each cell shaded by its share of its row and labelled."""
    rows = [*names, "background"]
    columns = [*names, "missed"]
    small, big = font(11), font(13)
    label_w = 8 + max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(n, font=small))
                      for n in rows)  # fmt: skip
    top = 40 + max(int(len(c) * 6.5) for c in columns)  # rotated column labels
    width, height = label_w + CELL * len(columns) + 16, top + CELL * len(rows) + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((width // 2, 8), title, fill="black", font=big, anchor="mt")
    for j, name in enumerate(columns):
        text = Image.new("RGBA", (top - 30, 14), (255, 255, 255, 0))
        ImageDraw.Draw(text).text((0, 0), name, fill="black", font=small)
        rotated = text.rotate(90, expand=True)
        image.paste(rotated, (label_w + j * CELL + CELL // 2 - 7, 28), rotated)
    totals = counts.sum(axis=1, keepdims=True).clip(min=1)
    for i, name in enumerate(rows):
        y = top + i * CELL
        draw.text((label_w - 6, y + CELL // 2), name, fill="black", font=small, anchor="rm")
        for j in range(len(columns)):
            x = label_w + j * CELL
            share = float(counts[i, j] / totals[i, 0])
            shade = int(255 - 180 * share)
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=(shade, shade, 255),
                           outline="#cccccc")  # fmt: skip
            colour = "white" if share > 0.6 else "black"
            draw.text((x + CELL // 2, y + CELL // 2), str(int(counts[i, j])), fill=colour,
                      font=small, anchor="mm")  # fmt: skip
    draw.text((width // 2, height - 20), "rows: ground truth; columns: detected as", fill="#444444",
              font=small, anchor="mm")  # fmt: skip
    return save_png(image, out)
