"""Small line charts drawn with PIL (no matplotlib): the loss and mAP curves of a run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from .images import COLOURS, font, save_png

PANEL = (460, 300)  # width, height of one chart in pixels
MARGIN = (64, 34, 16, 44)  # left, top, right, bottom


@dataclass
class Line:
    """One curve: points ``(x, y)`` in drawing order; non-finite ``y`` are skipped."""

    name: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)


@dataclass
class Chart:
    """One panel: a title, axis labels and its lines."""

    title: str
    xlabel: str
    lines: list[Line]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round numbers covering ``[low, high]`` (widened when it is one point)."""
    if not high > low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.floor(low / step) * step
    return [first + k * step for k in range(math.ceil((high - first) / step) + 1)]


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


def _draw_chart(draw: ImageDraw.ImageDraw, chart: Chart, left: int, top: int) -> None:
    width, height = PANEL
    x0, y0 = left + MARGIN[0], top + MARGIN[1]
    x1, y1 = left + width - MARGIN[2], top + height - MARGIN[3]
    small, big = font(11), font(13)
    draw.text((left + width // 2, top + 8), chart.title, fill="black", font=big, anchor="mt")
    points = [
        (x, y)
        for line in chart.lines
        for x, y in zip(line.x, line.y, strict=True)
        if math.isfinite(x) and math.isfinite(y)
    ]
    if not points:
        draw.rectangle((x0, y0, x1, y1), outline="#444444")
        draw.text(((x0 + x1) // 2, (y0 + y1) // 2), "no data yet", fill="#888888", anchor="mm")
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xt, yt = _ticks(min(xs), max(xs)), _ticks(min(ys), max(ys))
    xlo, xhi = xt[0], max(xt[-1], xt[0] + 1e-9)
    ylo, yhi = yt[0], max(yt[-1], yt[0] + 1e-9)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x0 + (x - xlo) / (xhi - xlo) * (x1 - x0), y1 - (y - ylo) / (yhi - ylo) * (y1 - y0))

    for value in xt:
        x, _ = px(value, ylo)
        draw.line((x, y1, x, y1 + 4), fill="#444444")
        draw.text((x, y1 + 6), _label(value), fill="black", font=small, anchor="mt")
    for value in yt:
        _, y = px(xlo, value)
        draw.line((x0 - 4, y, x0, y), fill="#444444")
        draw.line((x0 + 1, y, x1 - 1, y), fill="#eeeeee")
        draw.text((x0 - 6, y), _label(value), fill="black", font=small, anchor="rm")
    draw.text(((x0 + x1) // 2, y1 + 22), chart.xlabel, fill="black", font=small, anchor="mt")
    draw.rectangle((x0, y0, x1, y1), outline="#444444")
    for k, line in enumerate(chart.lines):
        colour = COLOURS[k % len(COLOURS)]
        coords = [
            px(x, y)
            for x, y in zip(line.x, line.y, strict=True)
            if math.isfinite(x) and math.isfinite(y)
        ]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        if len(coords) < 20:
            for cx, cy in coords:
                draw.ellipse((cx - 2.5, cy - 2.5, cx + 2.5, cy + 2.5), fill=colour)
        where = (x1 - 6, y0 + 6 + 14 * k)
        draw.rectangle(draw.textbbox(where, line.name, font=small, anchor="ra"), fill="white")
        draw.text(where, line.name, fill=colour, font=small, anchor="ra")


def draw_charts(charts: Sequence[Chart], out: Path) -> Path:
    """Draw ``charts`` side by side into the PNG ``out`` (written atomically)."""
    width, height = PANEL
    image = Image.new("RGB", (width * max(len(charts), 1), height), "white")
    draw = ImageDraw.Draw(image)
    for k, chart in enumerate(charts):
        _draw_chart(draw, chart, k * width, 0)
    return save_png(image, out)
