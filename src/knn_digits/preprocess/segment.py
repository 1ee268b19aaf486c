"""Several digits on one canvas: split the ink of a written number into digits, left to right."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from knn_digits.errors import EmptyImageError
from knn_digits.preprocess.ink import _EMPTY_CANVAS
from knn_digits.preprocess.normalize import normalize_digit

__all__ = ["segment_digits"]

# Two ink blobs are one digit if their column ranges overlap by this much of the narrower one
# (the two strokes of a 4, a 7 with a crossbar) — or overlap at all while one sits above the
# other, their row ranges overlapping by less than this much of the shorter one (a 5 whose bar
# floats off to the right). Digits side by side on one line share their rows instead.
OVERLAP_FRACTION = 0.5
# Blobs with less ink than this fraction of the largest are pieces (a dot, a broken stroke):
# they join their horizontally nearest neighbour. A "1" next to an "8" has ~30 % of its ink.
PIECE_FRACTION = 0.15


@dataclass
class _Blob:
    """Ink components that make up one digit: their box and ink, for segment_digits."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    area: float
    ids: list[int]

    def same_digit(self, other: _Blob) -> bool:
        def overlap(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
            return min(a[1], b[1]) - max(a[0], b[0]), min(a[1] - a[0], b[1] - b[0])

        cols, narrower = overlap(self.cols, other.cols)
        rows, shorter = overlap(self.rows, other.rows)
        return cols > 0 and (
            cols >= OVERLAP_FRACTION * narrower or rows < OVERLAP_FRACTION * shorter
        )

    def merge(self, other: _Blob) -> None:
        self.rows = (min(self.rows[0], other.rows[0]), max(self.rows[1], other.rows[1]))
        self.cols = (min(self.cols[0], other.cols[0]), max(self.cols[1], other.cols[1]))
        self.area += other.area
        self.ids += other.ids

    @property
    def centre(self) -> float:
        return (self.cols[0] + self.cols[1]) / 2


def segment_digits(ink: np.ndarray) -> list[np.ndarray]:
    """Split the ink of a written number into its digits, left to right, each as MNIST 28×28.

    Digits are connected components of the ink; components stacked above each other or
    overlapping a lot (see OVERLAP_FRACTION) and small pieces (PIECE_FRACTION) are merged
    into one digit first.

    Args:
        ink: array (H, W) in [0, 1], ink high (from :func:`sketch_to_ink` or
            :func:`image_to_ink`).

    Returns:
        A list of arrays of shape (28, 28), float32 in [0, 1], one per digit, left to right.

    Raises:
        EmptyImageError: no ink at all.
    """
    ink = np.asarray(ink, np.float32)
    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n == 0:
        raise EmptyImageError(_EMPTY_CANVAS)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    blobs = [
        _Blob(
            (box[0].start, box[0].stop), (box[1].start, box[1].stop), float(areas[i + 1]), [i + 1]
        )
        for i, box in enumerate(ndimage.find_objects(labels))
    ]
    merged = True
    while merged:
        merged = False
        for a, b in itertools.combinations(blobs, 2):
            if a.same_digit(b):
                a.merge(b)
                blobs.remove(b)
                merged = True
                break
    while len(blobs) > 1:
        small = min(blobs, key=lambda blob: blob.area)
        if small.area >= PIECE_FRACTION * max(blob.area for blob in blobs):
            break
        blobs.remove(small)
        min(blobs, key=lambda blob: abs(blob.centre - small.centre)).merge(small)
    blobs.sort(key=lambda blob: blob.centre)
    return [normalize_digit(np.where(np.isin(labels, blob.ids), ink, 0.0)) for blob in blobs]
