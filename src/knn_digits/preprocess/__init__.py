"""Drawings and photos → MNIST-like 28×28 digits (DESIGN.md §2).

MNIST was made by fitting binary, high-resolution scans into a 20×20 box with anti-aliasing and
centring them by mass in a 28×28 frame. This package does the same to whatever a person draws or
photographs, plus one step MNIST did not need: the stroke is set to MNIST's width (redrawn
along its skeleton, or eroded when thicker), so a thin or thick brush, a small or large digit,
in a corner or the centre, all give nearly the same 28×28 image::

    sketch / photo ──► ink map (H, W), float in [0, 1], ink high      sketch_to_ink, image_to_ink
                   ──► crop to the ink, binary, longer side 80 px
                   ──► skeleton (the pen's path)                       skeletonize
                   ──► redraw with a round pen as wide as MNIST's strokes
                       (or, for a thick brush or bold scan, carve out the loops it
                       filled, then erode to that width)
                   ──► fit the longer side to 20 px (area averaging)
                   ──► paste into 28×28, centre of mass at (14, 14)    normalize_digit

What it leaves out: the model's own feature steps (deskew, blur, …) — those belong to the model,
which applies them to training and query digits alike. Nothing here imports gradio.
``render_drawing``, ``render_strokes`` and ``render_photo`` go the other way (an MNIST digit or
pen strokes → a drawing or photo) for tests and benchmarks; ``strokes_to_mnist`` reads pen
strokes as the app reads a drawing of them.

>>> import numpy as np
>>> canvas = np.zeros((300, 300), np.float32)
>>> canvas[40:260, 140:160] = 1.0          # a thick vertical bar: a "1"
>>> digit = normalize_digit(canvas)
>>> digit.shape, digit.dtype, float(digit.max())
((28, 28), dtype('float32'), 1.0)
"""

from knn_digits.preprocess.ink import MAX_PIXELS, image_to_ink, load_image, sketch_to_ink
from knn_digits.preprocess.normalize import (
    image_to_mnist,
    normalize_digit,
    skeletonize,
    sketch_to_mnist,
)
from knn_digits.preprocess.render import (
    render_drawing,
    render_photo,
    render_strokes,
    strokes_to_mnist,
)
from knn_digits.preprocess.segment import Piece, Scorer, segment_digits, segment_number

__all__ = [
    "MAX_PIXELS",
    "Piece",
    "Scorer",
    "image_to_ink",
    "image_to_mnist",
    "load_image",
    "normalize_digit",
    "render_drawing",
    "render_photo",
    "render_strokes",
    "segment_digits",
    "segment_number",
    "sketch_to_ink",
    "sketch_to_mnist",
    "strokes_to_mnist",
    "skeletonize",
]
