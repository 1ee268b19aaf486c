"""The app's drawing canvas speaks in strokes: this reads them back into ink.

Gradio's Sketchpad sends three full-size PNG layers after every stroke, about a second late; the
app's own canvas (:mod:`knn_digits.drawing_pad`) sends the strokes themselves, a few hundred
bytes, the moment a stroke ends, numbered so an answer can say which drawing it belongs to::

    {"version": 3, "width": 420, "height": 420,
     "strokes": [{"points": [x0, y0, x1, y1, ...], "radius": 9, "erase": false}, ...]}

Points are canvas pixels; a stroke is a round brush of ``radius`` along straight lines between
its points (one point: a dot), painted in order, an eraser stroke taking ink away. Undo, redo and
clear are simply fewer or other strokes. Nothing here imports gradio.

>>> drawing = {"version": 1, "width": 40, "height": 40,
...            "strokes": [{"points": [20, 5, 20, 35], "radius": 2, "erase": False}]}
>>> ink = strokes_to_ink(drawing)
>>> ink.shape, ink.dtype, float(ink[20, 20]), float(ink[20, 5])
((40, 40), dtype('float32'), 1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from knn_digits.errors import ImageError

__all__ = ["Drawing", "Stroke", "is_stroke_drawing", "parse_drawing", "strokes_to_ink"]

# A canvas larger than this (px, either side), more points or more strokes than these, is not a
# person drawing a number: refused before anything is rendered.
MAX_SIDE = 2048
MAX_POINTS = 50_000
MAX_STROKES = 1_000
MAX_RADIUS = 200


@dataclass(frozen=True)
class Stroke:
    """One stroke: ``points`` float (n, 2) as (x, y) canvas pixels; a brush or an eraser."""

    points: np.ndarray
    radius: float
    erase: bool = False


@dataclass(frozen=True)
class Drawing:
    """The canvas's state number ``version``: its size (width, height) and its strokes."""

    version: int
    width: int
    height: int
    strokes: tuple[Stroke, ...]


def is_stroke_drawing(value: object) -> bool:
    """Whether ``value`` is the canvas's stroke payload (rather than a Sketchpad value)."""
    return isinstance(value, Mapping) and "strokes" in value


def parse_drawing(value: Mapping[str, Any]) -> Drawing:
    """Check a stroke payload and turn it into a :class:`Drawing`.

    Raises:
        ImageError: a malformed payload (what is wrong and what was expected).
    """
    try:
        version = int(value.get("version") or 0)
        width, height = int(value["width"]), int(value["height"])
        raw = value["strokes"]
        if not isinstance(raw, list):
            raise TypeError("strokes must be a list")
        strokes = tuple(_stroke(item) for item in raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(
            f"not a drawing ({exc}): expected {{'version', 'width', 'height', 'strokes': "
            "[{'points': [x0, y0, ...], 'radius', 'erase'}, ...]}"
        ) from None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImageError(f"a drawing of {width}×{height} px: each side must be 1–{MAX_SIDE}")
    if len(strokes) > MAX_STROKES or sum(len(s.points) for s in strokes) > MAX_POINTS:
        raise ImageError(f"too many strokes or points (at most {MAX_STROKES} and {MAX_POINTS})")
    return Drawing(version, width, height, strokes)


def _stroke(item: Mapping[str, Any]) -> Stroke:
    points = np.asarray(item["points"], np.float64)
    if points.ndim != 1 or len(points) % 2 or not np.isfinite(points).all():
        raise ValueError("points must be a flat list of finite x, y pairs")
    radius = float(item.get("radius", 1))
    if not 0 < radius <= MAX_RADIUS:
        raise ValueError(f"radius {radius} outside (0, {MAX_RADIUS}]")
    return Stroke(points.reshape(-1, 2), radius, bool(item.get("erase", False)))


def render_ink(drawing: Drawing) -> np.ndarray:
    """The drawing's ink: float32 (height, width), 1 under the brush, else 0 (no anti-aliasing,
    like the Sketchpad's strokes)."""
    image = Image.new("L", (drawing.width, drawing.height), 0)
    draw = ImageDraw.Draw(image)
    for stroke in drawing.strokes:
        if not len(stroke.points):
            continue
        fill, r = (0 if stroke.erase else 255), stroke.radius
        points = [(float(x), float(y)) for x, y in stroke.points]
        if len(points) > 1:
            draw.line(points, fill=fill, width=max(1, round(2 * r)), joint="curve")
        for x, y in (points[0], points[-1]):  # round caps (the joints are drawn round)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    return np.asarray(image, np.float32) / 255


def strokes_to_ink(value: Mapping[str, Any]) -> np.ndarray:
    """A stroke payload → its ink map (H, W) float32 in [0, 1], ink high (may be all zero)."""
    return render_ink(parse_drawing(value))
