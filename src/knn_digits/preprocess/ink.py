"""Ink from what people give the app: a Sketchpad value, a photo or a scan → an ink map.

An ink map is an array (H, W), float32 in [0, 1], ink high, background 0. Photos are read with
their size checked from the header, shrunk, turned so the ink is high, freed of uneven light
and specks, then thresholded (Otsu); a Sketchpad's drawn layers *are* the ink.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from knn_digits.errors import EmptyImageError, ImageError

__all__ = ["MAX_PIXELS", "image_to_ink", "load_image", "sketch_to_ink"]

# Larger images are refused, not shrunk: 50 MP admits a 48-megapixel phone photo, while an
# 8000×8000 image (64 MP, ~200 MB decoded as RGB) is almost certainly not a photo of one digit.
MAX_PIXELS = 50_000_000
# Photos are shrunk to this longer side before any processing: a digit needs far fewer pixels,
# and the background estimate and threshold then cost the same for any input size.
PHOTO_SIDE = 1024
# A photo holds no digit if its strongest ink, after the background is removed, is fainter than
# this (on a 0–1 scale): blank paper, JPEG noise, an all-black or all-white file.
MIN_CONTRAST = 0.15
# Differences from the background below this (0–1 scale) are sensor noise and paper grain.
NOISE_LEVEL = 0.05
# Images no larger than this (px, longer side) are scans or crops, evenly lit: the paper is one
# level (see _background). Dataset scans are 16, 28 or 32 px; a phone photo is thousands.
SMALL_SCAN_SIDE = 64
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
    median sees the paper whichever way round the ink is, even under uneven light. In a small
    scan the strokes fill the frame and may hold most of a window, so there the paper is what
    lines the image's border (see :func:`_border_level`).
    """
    if max(grey.shape) <= SMALL_SCAN_SIDE:
        return 1.0 - grey if _border_level(grey) > _otsu_threshold(grey) else grey
    contrast = grey - _full_size(ndimage.median_filter(_thumbnail(grey), 9, mode="nearest"), grey)
    darker = np.clip(-contrast - NOISE_LEVEL, 0, None).sum()
    lighter = np.clip(contrast - NOISE_LEVEL, 0, None).sum()
    return 1.0 - grey if darker > lighter else grey


def _border_level(image: np.ndarray) -> float:
    """The median of the outermost pixels: paper, even where a digit touches the frame."""
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return float(np.median(border))


def _background(ink: np.ndarray) -> np.ndarray | float:
    """A smooth estimate of the level under the ink (uneven light, shadows, paper tone).

    A grey opening of the thumbnail removes everything narrower than ~28 % of the image (the
    strokes) and keeps slow changes of level. Unlike a median it is not pulled up where the
    strokes are dense. The window is wide because a narrower one (15 %) kept the crossings of
    bold MNIST digits as "background" and hollowed them: 92.5 % instead of 95.8 % on uploaded
    MNIST test digits with the raw preset, for no gain on photos under uneven light.

    A small image (at most :data:`SMALL_SCAN_SIDE` px) is a scan or a crop, not a photo of
    paper under a lamp: its paper is one level, read off its border. The opening would hollow
    its strokes, which fill the frame: 16×16 and 32×32 scans of forms were read right 84 % and
    69 % of the time with it (benchmarks/real_handwriting.py, 300 of each).
    """
    if max(ink.shape) <= SMALL_SCAN_SIDE:
        return _border_level(ink)
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
