"""The way back: digits as drawings and photos, for tests, benchmarks and demos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from knn_digits.preprocess.normalize import _bounding_box, _resize, normalize_digit, skeletonize

__all__ = ["render_drawing", "render_photo", "render_strokes", "strokes_to_mnist"]


def _scaled_ink(digit: np.ndarray, size: int) -> np.ndarray:
    """An MNIST digit's ink, cropped and scaled so its box's longer side is ``size`` pixels."""
    digit = np.asarray(digit, np.float32)
    digit = digit / 255 if digit.max() > 1 else digit
    crop = digit[_bounding_box(digit > 0.1)]
    scale = size / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    return np.clip(_resize(crop, height, width, Image.Resampling.BICUBIC), 0.0, 1.0)


def render_drawing(
    digit: np.ndarray,
    *,
    canvas: tuple[int, int] = (400, 400),
    size: int = 280,
    brush_radius: float = 8,
    centre: tuple[int, int] | None = None,
) -> np.ndarray:
    """Draw an MNIST digit the way a person would on the Sketchpad: a round brush along its path.

    Args:
        digit: array (28, 28), uint8 or float in [0, 1], ink high.
        canvas: (width, height) of the canvas in pixels.
        size: the longer side of the digit's box (before the brush) in pixels.
        brush_radius: the brush's radius in pixels (Gradio's ``Brush(default_size=...)``).
        centre: (x, y) of the digit's box centre; default the canvas centre.

    Returns:
        A layer as the Sketchpad delivers it: uint8 (H, W, 4), black ink with alpha 255, the
        rest (0, 0, 0, 0); strokes are not anti-aliased.
    """
    path = skeletonize(_scaled_ink(digit, size) > 0.5)
    path = path[_bounding_box(path)]
    canvas_width, canvas_height = canvas
    x, y = centre if centre is not None else (canvas_width // 2, canvas_height // 2)
    top, left = y - path.shape[0] // 2, x - path.shape[1] // 2
    if (
        top < 0
        or left < 0
        or top + path.shape[0] > canvas_height
        or (left + path.shape[1] > canvas_width)
    ):
        raise ValueError(f"a digit of {size} px at {centre} does not fit in {canvas}")
    placed = np.zeros((canvas_height, canvas_width), bool)
    placed[top : top + path.shape[0], left : left + path.shape[1]] = path
    return _brush_layer(placed, brush_radius)


def render_strokes(
    strokes: Sequence[np.ndarray],
    *,
    canvas: tuple[int, int] = (400, 400),
    size: int = 280,
    brush_radius: float = 8,
    centre: tuple[float, float] | None = None,
    y_up: bool = True,
) -> np.ndarray:
    """Draw pen strokes (from :func:`knn_digits.datasets.read_unipen`) as a Sketchpad layer.

    The strokes are scaled, keeping their aspect, so their bounding box's longer side is
    ``size`` pixels, placed with the box's centre at ``centre``, and drawn as straight lines
    between the recorded points with a round brush, as Gradio's brush joins pointer moves.

    Args:
        strokes: arrays of shape (n_points, 2), x and y in any unit.
        canvas: (width, height) of the canvas in pixels.
        size: the longer side of the strokes' box (before the brush) in pixels.
        brush_radius: the brush's radius in pixels (Gradio's ``Brush(default_size=...)``).
        centre: (x, y) of the box's centre on the canvas; default the canvas centre.
        y_up: the recorded y axis points up (tablets, UNIPEN) and is flipped for the screen.

    Returns:
        uint8 (H, W, 4) as :func:`render_drawing`: ink alpha 255, not anti-aliased.
    """
    points = [np.asarray(stroke, np.float64).reshape(-1, 2) for stroke in strokes]
    if not points or not any(len(stroke) for stroke in points):
        raise ValueError("render_strokes: no points to draw")
    every = np.concatenate(points)
    low, high = every.min(axis=0), every.max(axis=0)
    scale = size / max(float((high - low).max()), 1e-9)
    canvas_width, canvas_height = canvas
    x, y = centre if centre is not None else (canvas_width / 2, canvas_height / 2)
    extent = (high - low) * scale
    if (
        x - extent[0] / 2 < 0
        or y - extent[1] / 2 < 0
        or x + extent[0] / 2 > canvas_width
        or y + extent[1] / 2 > canvas_height
    ):
        raise ValueError(f"strokes of {size} px at {centre} do not fit in {canvas}")
    path = Image.new("1", canvas)
    draw = ImageDraw.Draw(path)
    for stroke in points:
        screen = (stroke - (low + high) / 2) * scale
        if y_up:
            screen[:, 1] = -screen[:, 1]
        screen += (x, y)
        if len(screen) == 1:
            draw.point([tuple(screen[0])], fill=1)
        else:
            draw.line([tuple(p) for p in screen], fill=1, width=1)
    return _brush_layer(np.asarray(path, bool), brush_radius)


def _brush_layer(path: np.ndarray, brush_radius: float) -> np.ndarray:
    """A round brush of ``brush_radius`` along a one-pixel path (H, W) → Sketchpad layer."""
    ink = ndimage.distance_transform_edt(~path) <= brush_radius
    layer = np.zeros((*path.shape, 4), np.uint8)
    layer[ink, 3] = 255
    return layer


def strokes_to_mnist(
    strokes: Sequence[np.ndarray], *, brush_radius: float = 8, y_up: bool = True
) -> np.ndarray:
    """Pen strokes → (28, 28) float32 in [0, 1], as the app reads them drawn on its canvas.

    The strokes are drawn with a brush of ``brush_radius`` px (default: a medium brush) on a
    400 px canvas and read back through :func:`~knn_digits.preprocess.normalize_digit`:
    labelled pen data added to the model then looks exactly like a drawing of the same strokes.
    """
    layer = render_strokes(
        strokes, canvas=(400, 400), size=280, brush_radius=brush_radius, y_up=y_up
    )
    return normalize_digit(layer[:, :, 3].astype(np.float32) / 255)


def render_photo(
    digit: np.ndarray,
    *,
    photo: tuple[int, int] = (640, 480),
    size: int = 300,
    shading: float = 0.0,
    noise: float = 4.0,
    seed: int = 0,
) -> np.ndarray:
    """An MNIST digit as a photo of dark ink on paper: uint8 RGB (H, W, 3).

    Args:
        digit: array (28, 28), uint8 or float in [0, 1], ink high.
        photo: (width, height) of the photo.
        size: the longer side of the written digit's box in pixels (it is centred).
        shading: uneven light, 0 (even) to 1: the paper darkens from one corner to the other
            down to ``1 - shading`` of its brightness, plus a soft shadow.
        noise: standard deviation of the sensor noise, in grey levels.
        seed: seed of the noise.
    """
    width, photo_height = photo
    written = _scaled_ink(digit, size)
    ink = np.zeros((photo_height, width), np.float32)
    top, left = (photo_height - written.shape[0]) // 2, (width - written.shape[1]) // 2
    ink[top : top + written.shape[0], left : left + written.shape[1]] = written
    rows = np.arange(photo_height, dtype=np.float32)[:, None] / photo_height  # (H, 1)
    cols = np.arange(width, dtype=np.float32)[None, :] / width  # (1, W)
    shadow = np.exp(-(((cols - 0.8) / 0.25) ** 2))
    light = (1.0 - shading * (rows + cols) / 2) * (1.0 - 0.5 * shading * shadow)  # (H, W)
    paper = np.array([228, 222, 205], np.float32)
    pen = np.array([35, 40, 80], np.float32)
    colour = (paper + (pen - paper) * ink[..., None]) * light[..., None]  # (H, W, 3)
    colour += noise * np.random.default_rng(seed).standard_normal(colour.shape, np.float32)
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)
