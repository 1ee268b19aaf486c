"""One digit's ink → an MNIST-like 28×28: crop, set the stroke to MNIST's width, fit, centre."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from knn_digits.errors import EmptyImageError, ImageError
from knn_digits.preprocess.ink import _EMPTY_CANVAS, image_to_ink, sketch_to_ink

__all__ = ["image_to_mnist", "normalize_digit", "sketch_to_mnist", "skeletonize"]

# The ink's longer side at the working resolution: 4× the 20 px MNIST box, fine enough that the
# skeleton keeps the loops of a small "8", small enough to thin in a few milliseconds.
WORK_SIDE = 80
# MNIST's box, frame and centre of mass (DESIGN.md §1).
BOX = 20
FRAME = 28
CENTRE = 14.0
# The redrawn pen's radius in 28×28 pixels. MNIST strokes are ~2.2 px wide; 1.25 scored best
# of 0.9–1.4 with a 3-NN on validation (fit on train[:50000], 1000 of train[50000:]).
PEN_RADIUS = 1.25
# Strokes wider than this fraction of the digit's longer side are eroded to it instead of
# redrawn from their skeleton. On real writers (benchmarks/real_handwriting.py, tune split, 800
# per condition) 0.095 and 0.11 were within noise of each other and well ahead of redrawing
# all ink (thick brush 92.0 → 95.5 %, 32×32 scans 92.6 → 96.5 % at 0.11); 0.11 keeps the app's
# default brush and moderately bold touching digits on the redraw path, which the
# recognition-driven segmentation was tuned with (at 0.095 a touching "34" read "84").
THICK_STROKE = 0.11
# Thick ink is eroded by its width less THICK_STROKE; a loop the brush filled adds area but
# hardly any skeleton, so the mean width (area / skeleton length) overstates it and the erosion
# thinned the digit's real strokes to hairlines — a thick 9 became a dot on a thread. The width
# along the skeleton (twice the distance to the edge there) ignores the blob; ordinary strokes'
# mean width is 1.06–1.34× it (stroke ends add area, not skeleton; tune writers' 10th–90th
# percentiles, median 1.18), so the erosion takes the mean width, capped at this multiple of the
# median width along the skeleton. Tune writers (thick brush, two halves of 1,249 digits each):
# misreads 95 → 74 and 97 → 76; scans 44 → 41 and 44 → 42 per half; factors 1.1 / 1.18 / 1.45
# gave 85 / 78 / 80 on the first half.
FILLED_LOOP_RATIO = 1.3
# A loop the thick brush filled cannot be reopened by any erosion: the hole is gone, and a 9 read
# as a 3, 7 or 1. Ink deeper than the stroke's half width (the median depth along the skeleton)
# plus this fraction of THICK_STROKE (MNIST's half width) is carved out again — about the hole
# a pen of MNIST's width leaves on the same path — but only in a blob that holds an end of the
# skeleton (a filled loop: the path goes round it and stops there). A blob the skeleton passes
# through is a filled corner, a flagged 1's angle: carving every deep blob made 1s read 4
# (thick brush 147 → 151 misreads). Tune writers (`accurate`, all 60,000; chosen on digits 0,
# 2, 4, …, checked on 1, 3, 5, …): thick brush 71 → 71 and 76 → 69 misreads of 2,498; small
# thick digits (35–50 % of the canvas, where loops fill) 101 → 92 and 93 → 79; scans 78 → 76
# of 3,868; thin and medium brushes unchanged. 0.25 / 0.75: 76 / 70 and 101 / 95 on the first
# halves; the 25th percentile depth for the stroke's: bold 1s in 32×32 scans carved into 0s
# (42 → 60).
FILLED_LOOP_DEPTH = 0.5

# --------------------------------------------------------------------------------------------
# Ink → MNIST digit
# --------------------------------------------------------------------------------------------


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Thin a binary image (H, W) to lines one pixel wide, keeping its topology.

    Zhang & Suen (1984), vectorised: each sub-iteration removes, all at once, the boundary
    pixels whose removal keeps the shape connected, first from the south-east, then from the
    north-west. What is left is the path a pen of zero width would have taken.

    >>> bar = np.zeros((7, 9), bool)
    >>> bar[2:5, 1:8] = True
    >>> skeletonize(bar).astype(int)[2:5]
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 1, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0]])
    """
    image = np.pad(np.asarray(mask, bool), 1).astype(np.uint8)
    height, width = image.shape[0] - 2, image.shape[1] - 2

    def neighbours() -> np.ndarray:
        # P2..P9: north, then clockwise; shape (8, H, W).
        offsets = ((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))
        return np.stack([image[r : r + height, c : c + width] for r, c in offsets])

    while True:
        changed = False
        for first in (True, False):
            p = neighbours()
            count = p.sum(axis=0)
            transitions = ((p == 0) & (np.roll(p, -1, axis=0) == 1)).sum(axis=0)
            if first:  # P2·P4·P6 = 0 and P4·P6·P8 = 0
                side = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:  # P2·P4·P8 = 0 and P2·P6·P8 = 0
                side = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            centre = image[1:-1, 1:-1]
            remove = (centre == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                centre[remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _resize(array: np.ndarray, height: int, width: int, resample: Image.Resampling) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(array, np.float32))
    return np.asarray(image.resize((width, height), resample), np.float32)


def _working_mask(ink: np.ndarray) -> np.ndarray:
    """The ink's bounding box as a binary image whose longer side is WORK_SIDE pixels."""
    crop = ink[_bounding_box(ink > 0)]
    scale = WORK_SIDE / max(crop.shape)
    height = max(1, round(crop.shape[0] * scale))
    width = max(1, round(crop.shape[1] * scale))
    if scale >= 1:
        # Small input (an MNIST image, a tiny drawing): interpolate the grey levels, then cut at
        # half-ink, so the outline stays smooth instead of becoming staircase-blocky.
        return _resize(crop, height, width, Image.Resampling.BILINEAR) > 0.5 * crop.max()
    # Large input: any ink in a working pixel counts, so a 1-px line on a 2000-px canvas
    # survives the shrinking. The stroke gets fatter by at most a pixel, which the skeleton
    # removes anyway.
    coverage = _resize(
        (crop >= 0.5 * crop.max()).astype(np.float32), height, width, Image.Resampling.BOX
    )
    return coverage > 1e-3


def normalize_digit(ink: np.ndarray) -> np.ndarray:
    """Turn the ink of one digit into an MNIST-like image.

    Args:
        ink: array (H, W), float in [0, 1] (or uint8), ink high, background 0. Anything that is
            not zero counts as ink, so remove noise first (:func:`image_to_ink` does).

    Returns:
        ndarray of shape (28, 28), float32 in [0, 1]: the digit's stroke set to MNIST's ~2.2 px
        (thin ink redrawn along its skeleton, thick ink eroded), its longer side 20 px, its
        centre of mass at (14, 14).

    Raises:
        EmptyImageError: no ink at all.
    """
    ink = np.asarray(ink, np.float32)
    if ink.ndim != 2:
        raise ImageError(f"expected an ink map of shape (H, W), got {ink.shape}")
    if not (ink > 0).any():
        raise EmptyImageError(_EMPTY_CANVAS)
    mask = _working_mask(ink)
    skeleton = skeletonize(mask)
    if not skeleton.any():  # Zhang–Suen erases a lone 2×2 block: keep the dot itself
        skeleton = mask
    widest = THICK_STROKE * max(mask.shape)
    if mask.sum() / skeleton.sum() <= widest:  # the stroke's mean width, in working pixels
        return _fit_and_centre(_redraw(skeleton))
    depth = _depth(mask)
    loops = _filled_loops(depth, skeleton, widest)
    if loops.any():
        mask = mask & ~loops
        skeleton = skeletonize(mask)
        depth = _depth(mask)
    width = mask.sum() / skeleton.sum()
    if width <= widest:
        return _fit_and_centre(_redraw(skeleton))
    # A thick brush or a bold scan: erode the outline to MNIST's width rather than redraw the
    # skeleton, so a blob left uncarved (a filled corner, a loop the skeleton passes through)
    # stays a blob, as in MNIST's bold digits, instead of thinning to a line read 1 or 7. The
    # skeleton keeps thin joins connected.
    along_skeleton = 2 * np.median(depth[skeleton]) - 1  # a stroke n px wide: depth (n + 1) / 2
    width = min(width, FILLED_LOOP_RATIO * along_skeleton)
    return _fit_and_centre(((depth > (width - widest) / 2) | skeleton).astype(np.float32))


def _depth(mask: np.ndarray) -> np.ndarray:
    """Each ink pixel's distance to the nearest pixel without ink (outside the image counts)."""
    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


def _filled_loops(depth: np.ndarray, skeleton: np.ndarray, widest: float) -> np.ndarray:
    """The ink of loops a thick brush filled, to carve out again (FILLED_LOOP_DEPTH's note).

    Deep ink (``depth``: :func:`_depth` of the ink), more than the stroke's half width plus
    ``FILLED_LOOP_DEPTH * widest`` from the edge, in blobs that hold an end of the skeleton: a
    filled loop at the end of a stroke (a 9's or 6's head, a 2's curl). Blobs the skeleton only
    passes through are filled corners and stay. Returns a boolean image shaped like ``depth``.
    """
    deep = depth > np.median(depth[skeleton]) + FILLED_LOOP_DEPTH * widest
    blobs, count = ndimage.label(deep, np.ones((3, 3)))
    if count == 0:
        return deep
    neighbours = ndimage.convolve(
        skeleton.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant"
    )
    ends = skeleton & (neighbours == 2)  # the pixel and exactly one neighbour
    holding_an_end = np.unique(blobs[ends & deep])
    return np.isin(blobs, holding_an_end[holding_an_end > 0])


def _redraw(skeleton: np.ndarray) -> np.ndarray:
    """The skeleton drawn with a round pen that will be PEN_RADIUS wide once fitted to BOX."""
    skeleton = skeleton[_bounding_box(skeleton)]
    # Choose the pen (in working pixels) so that once the redrawn box (skeleton + pen on each
    # side) is fitted to BOX pixels, the pen is PEN_RADIUS: the same width whatever the brush.
    span = max(skeleton.shape)
    radius = PEN_RADIUS * span / (BOX - 2 * PEN_RADIUS)
    pad = int(np.ceil(radius)) + 1
    distance = ndimage.distance_transform_edt(~np.pad(skeleton, pad))
    return np.clip(radius + 0.5 - distance, 0.0, 1.0)  # a round pen, anti-aliased edge


def _fit_and_centre(stroke: np.ndarray) -> np.ndarray:
    """A stroke image (any size) → its longer side BOX px by area averaging, centred by mass."""
    stroke = stroke[_bounding_box(stroke > 0)]
    scale = BOX / max(stroke.shape)
    height = max(1, round(stroke.shape[0] * scale))
    width = max(1, round(stroke.shape[1] * scale))
    digit = np.clip(_resize(stroke, height, width, Image.Resampling.BOX), 0.0, 1.0)
    return _centre_by_mass(digit / digit.max())


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste a digit (h, w ≤ 20) into a 28×28 frame so its centre of mass sits at (14, 14)."""
    height, width = digit.shape
    com_row, com_col = ndimage.center_of_mass(digit)
    top = int(np.clip(round(CENTRE - com_row), 0, FRAME - height))
    left = int(np.clip(round(CENTRE - com_col), 0, FRAME - width))
    frame = np.zeros((FRAME, FRAME), np.float32)
    frame[top : top + height, left : left + width] = digit
    return frame


def image_to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """A photo, scan or image of one digit → (28, 28) float32 in [0, 1], MNIST-like.

    >>> photo = np.full((120, 90), 230, np.uint8)   # light paper ...
    >>> photo[20:100, 40:52] = 30                    # ... with a dark "1"
    >>> image_to_mnist(photo).shape
    (28, 28)

    Raises:
        EmptyImageError: no ink (blank, all black, all white).
        ImageError: not an image array, or more than :data:`MAX_PIXELS` pixels.
    """
    return normalize_digit(image_to_ink(image))


def sketch_to_mnist(value: Mapping[str, Any] | None) -> np.ndarray:
    """A Gradio Sketchpad value → (28, 28) float32 in [0, 1], MNIST-like.

    Raises:
        EmptyImageError: the canvas is empty.
    """
    return normalize_digit(sketch_to_ink(value))
