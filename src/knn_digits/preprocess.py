"""Drawings and photos → MNIST-like 28×28 digits (DESIGN.md §2).

MNIST was made by fitting binary, high-resolution scans into a 20×20 box with anti-aliasing and
centring them by mass in a 28×28 frame. This module does the same to whatever a person draws or
photographs, plus one step MNIST did not need: the stroke is *redrawn* with an MNIST-sized pen,
so a thin or thick brush, a small or large digit, in a corner or the centre, all give nearly the
same 28×28 image::

    sketch / photo ──► ink map (H, W), float in [0, 1], ink high      sketch_to_ink, image_to_ink
                   ──► crop to the ink, binary, longer side 80 px
                   ──► skeleton (the pen's path)                       skeletonize
                   ──► redraw with a round pen as wide as MNIST's strokes
                   ──► fit the longer side to 20 px (area averaging)
                   ──► paste into 28×28, centre of mass at (14, 14)    normalize_digit

What it leaves out: the model's own feature steps (deskew, blur, …) — those belong to the model,
which applies them to training and query digits alike. This module never imports gradio.
``render_drawing`` and ``render_photo`` go the other way, MNIST digit → drawing or photo, for
tests and benchmarks.

>>> canvas = np.zeros((300, 300), np.float32)
>>> canvas[40:260, 140:160] = 1.0          # a thick vertical bar: a "1"
>>> digit = normalize_digit(canvas)
>>> digit.shape, digit.dtype, float(digit.max())
((28, 28), dtype('float32'), 1.0)
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from knn_digits.errors import EmptyImageError, ImageError

__all__ = [
    "MAX_PIXELS",
    "image_to_ink",
    "image_to_mnist",
    "load_image",
    "normalize_digit",
    "render_drawing",
    "render_photo",
    "segment_digits",
    "sketch_to_ink",
    "sketch_to_mnist",
    "skeletonize",
]

# Larger images are refused, not shrunk: 50 MP admits a 48-megapixel phone photo, while an
# 8000×8000 image (64 MP, ~200 MB decoded as RGB) is almost certainly not a photo of one digit.
MAX_PIXELS = 50_000_000
# Photos are shrunk to this longer side before any processing: a digit needs far fewer pixels,
# and the background estimate and threshold then cost the same for any input size.
PHOTO_SIDE = 1024
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
# A photo holds no digit if its strongest ink, after the background is removed, is fainter than
# this (on a 0–1 scale): blank paper, JPEG noise, an all-black or all-white file.
MIN_CONTRAST = 0.15
# Differences from the background below this (0–1 scale) are sensor noise and paper grain.
NOISE_LEVEL = 0.05
# In a photo, ink blobs smaller than this fraction of the largest one are specks of dirt.
SPECK_FRACTION = 0.03

_EMPTY_CANVAS = "The canvas is empty: draw a digit first."


# --------------------------------------------------------------------------------------------
# Reading images
# --------------------------------------------------------------------------------------------


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image file for :func:`image_to_mnist`, refusing non-images and absurd sizes.

    The size is checked from the header, before anything is decoded, so an 8000×8000 file costs
    nothing. Large JPEGs are decoded at a reduced scale (the digit needs no more), and the EXIF
    orientation of phone photos is applied.

    Raises:
        ImageError: the file is missing, is not an image, is damaged, or has more than
            :data:`MAX_PIXELS` pixels.
    """
    name = os.path.basename(os.fspath(path))
    try:
        with warnings.catch_warnings():
            # Pillow warns (and later refuses) on "decompression bombs": refuse them ourselves.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: too large to be a photo of a digit ({exc})") from None
    except (UnidentifiedImageError, OSError):
        raise ImageError(
            f"{name}: not an image (expected PNG, JPEG, WebP, BMP, GIF or TIFF)"
        ) from None
    try:
        _check_size(image.size[0], image.size[1], name)
        scale = PHOTO_SIDE / max(image.size)
        if scale < 0.5:
            # JPEG only (a no-op elsewhere): decode at 1/2, 1/4 or 1/8 scale, >= PHOTO_SIDE.
            image.draft(None, (int(image.size[0] * scale), int(image.size[1] * scale)))
        image.load()
        upright = ImageOps.exif_transpose(image)  # a copy, so closing ``image`` is safe
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: a damaged or truncated image file ({exc})") from None
    finally:
        image.close()  # the pixels are loaded (or we failed): let go of the file at once
    return upright


def _check_size(width: int, height: int, name: str = "image") -> None:
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the image has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: {width}×{height} pixels is too large (limit {MAX_PIXELS / 1e6:.0f} "
            "megapixels); crop or scale it down to the digit"
        )


def _as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image from a PIL image or an array (H, W), (H, W, 1|3|4): uint8, bool or float."""
    if isinstance(image, Image.Image):
        _check_size(*image.size)
        return image
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    _check_size(array.shape[1], array.shape[0])
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("the image array holds NaN or infinite values")
        # Floats are taken as [0, 1], or as 0–255 if they go above 1.
        top = 255.0 if array.max(initial=0.0) > 1.0 else 1.0
        array = np.rint(np.clip(array / top, 0.0, 1.0) * 255)
    elif array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            raise ImageError(f"expected a numeric image array, got dtype {array.dtype}")
        array = np.clip(array, 0, 255)
    return Image.fromarray(array.astype(np.uint8))


def _grey(image: Image.Image) -> np.ndarray:
    """Grey levels (H, W) float32 in [0, 1], shrunk to PHOTO_SIDE, transparency made visible.

    A transparent image is composited onto a background that contrasts with its opaque pixels:
    converting RGBA straight to grey would turn transparent *and* black into 0 (Gradio #8198).
    """
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"), np.float32) / 255
        if alpha.min() < 1.0:
            grey = np.asarray(image.convert("L"), np.float32) / 255
            weight = alpha.sum()
            mean_opaque = float((grey * alpha).sum() / weight) if weight > 0 else 0.0
            backdrop = "white" if mean_opaque < 0.5 else "black"
            image = Image.alpha_composite(Image.new("RGBA", image.size, backdrop), image)
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit scans and float images: converting to "L" would clip, not scale, so rescale.
        levels = np.asarray(image, np.float32)
        top = max(float(levels.max()), 1.0)
        image = Image.fromarray(np.rint(np.clip(levels / top, 0, 1) * 255).astype(np.uint8))
    image = image.convert("L")
    if max(image.size) > PHOTO_SIDE:
        image = ImageOps.contain(image, (PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BOX)
    return np.asarray(image, np.float32) / 255


def _otsu_threshold(values: np.ndarray) -> float:
    """The threshold that best splits ``values`` (in [0, 1]) into two classes (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    weight = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(weight)
    w1 = w0[-1] - w0
    m0 = np.cumsum(weight * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0 * w0[-1] - w0 * m0[-1]) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """``image`` shrunk (or grown) by area averaging to a longer side of 32 pixels."""
    height, width = image.shape
    scale = 32 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _full_size(thumbnail: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A thumbnail, smoothed and scaled back up to the shape of ``like``."""
    smooth = ndimage.gaussian_filter(thumbnail, 1.5, mode="nearest")
    height, width = like.shape
    return np.asarray(Image.fromarray(smooth).resize((width, height), Image.Resampling.BILINEAR))


def _ink_polarity(grey: np.ndarray) -> np.ndarray:
    """``grey`` turned so the ink is high: dark ink on light paper is inverted.

    The ink is whichever side of the local paper level holds more contrast. The paper level is
    a median over windows of ~30 % of the image: strokes are a minority in most windows, so the
    median sees the paper whichever way round the ink is, even under uneven light.
    """
    contrast = grey - _full_size(ndimage.median_filter(_thumbnail(grey), 9, mode="nearest"), grey)
    darker = np.clip(-contrast - NOISE_LEVEL, 0, None).sum()
    lighter = np.clip(contrast - NOISE_LEVEL, 0, None).sum()
    return 1.0 - grey if darker > lighter else grey


def _background(ink: np.ndarray) -> np.ndarray:
    """A smooth estimate of the level under the ink (uneven light, shadows, paper tone).

    A grey opening of the thumbnail removes everything narrower than ~28 % of the image (the
    strokes) and keeps slow changes of level. Unlike a median it is not pulled up where the
    strokes are dense. The window is wide because a narrower one (15 %) kept the crossings of
    bold MNIST digits as "background" and hollowed them: 92.5 % instead of 95.8 % on uploaded
    MNIST test digits with the raw preset, for no gain on photos under uneven light.
    """
    return _full_size(ndimage.grey_opening(_thumbnail(ink), 9, mode="nearest"), ink)


def image_to_ink(image: Image.Image | np.ndarray) -> np.ndarray:
    """The ink of a photo, scan or image as an array (H, W) float32 in [0, 1], ink high.

    Handles dark ink on light paper and light ink on dark (MNIST) alike. The background level
    is estimated and removed, so uneven lighting survives the Otsu threshold that follows;
    specks of dirt are dropped. Images larger than PHOTO_SIDE are shrunk first.

    Raises:
        EmptyImageError: no ink: blank paper, an all-black or all-white image.
        ImageError: not an image array, or more than :data:`MAX_PIXELS` pixels.
    """
    ink = _ink_polarity(_grey(_as_pil(image)))
    ink = np.clip(ink - _background(ink), 0.0, 1.0)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise EmptyImageError(
            "No digit found: the image is blank or a single colour. Upload a photo of a digit "
            "(dark on light or light on dark)."
        )
    ink = ink / peak
    sigma = max(ink.shape) / 400  # a touch of blur so paper grain does not split strokes
    smooth = ndimage.gaussian_filter(ink, sigma) if sigma >= 0.5 else ink
    # Otsu, but never below a quarter of the peak: on a clean image it would split the noise.
    mask = smooth > max(_otsu_threshold(smooth), 0.25)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n > 1:
        areas = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(areas >= SPECK_FRACTION * areas.max()) + 1
        mask = np.isin(labels, keep)
    return np.where(mask, ink, 0.0).astype(np.float32)


def sketch_to_ink(value: Mapping[str, Any] | None) -> np.ndarray:
    """The ink of a Gradio Sketchpad value as an array (H, W) float32 in [0, 1], ink high.

    The drawn layers' alpha channel is the ink (any brush colour, no inversion needed). A value
    carrying only a ``composite`` image — what ``gradio_client`` sends — goes through
    :func:`image_to_ink` instead.

    Raises:
        EmptyImageError: ``None``, no layers and no composite, or nothing drawn.
    """
    if value is None:
        raise EmptyImageError(_EMPTY_CANVAS)
    layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
    alphas = [layer[:, :, 3] for layer in layers if layer.ndim == 3 and layer.shape[2] == 4]
    if alphas:
        ink = np.max(alphas, axis=0).astype(np.float32) / 255
        _check_size(ink.shape[1], ink.shape[0], "canvas")
        if ink.max() > 0:
            return ink
    composite = value.get("composite")
    if composite is None:
        raise EmptyImageError(_EMPTY_CANVAS)
    try:
        return image_to_ink(composite)
    except EmptyImageError:
        raise EmptyImageError(_EMPTY_CANVAS) from None


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
        ndarray of shape (28, 28), float32 in [0, 1]: the digit redrawn with a pen ~2.2 px wide,
        its longer side 20 px, its centre of mass at (14, 14).

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
    skeleton = skeleton[_bounding_box(skeleton)]
    # Choose the pen (in working pixels) so that once the redrawn box (skeleton + pen on each
    # side) is fitted to BOX pixels, the pen is PEN_RADIUS: the same width whatever the brush.
    span = max(skeleton.shape)
    radius = PEN_RADIUS * span / (BOX - 2 * PEN_RADIUS)
    pad = int(np.ceil(radius)) + 1
    distance = ndimage.distance_transform_edt(~np.pad(skeleton, pad))
    stroke = np.clip(radius + 0.5 - distance, 0.0, 1.0)  # a round pen, anti-aliased edge
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


# --------------------------------------------------------------------------------------------
# Several digits on one canvas
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The way back: MNIST digits as drawings and photos (for tests, benchmarks and demos)
# --------------------------------------------------------------------------------------------


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
    ink = ndimage.distance_transform_edt(~placed) <= brush_radius
    layer = np.zeros((canvas_height, canvas_width, 4), np.uint8)
    layer[ink, 3] = 255
    return layer


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
