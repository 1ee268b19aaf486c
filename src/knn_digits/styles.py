"""Handwriting styles MNIST's writers rarely used, synthesized from MNIST's own digits.

MNIST's writers were American; many people elsewhere write a "1" with a long flag, a "9"
whose tail hooks to the left, a "7" crossed at its middle and a "0" slashed through. MNIST's
nearest look-alikes of those are a 7, a 3, a 2 and an 8: misreadings of real writers outside
MNIST (benchmarks/real_handwriting.py). A k-NN can only read a style it has references for,
so this adds them: it takes an MNIST digit's skeleton (the pen's path), adds the missing pen
stroke, and draws the result through the same pipeline as a drawing
(:mod:`knn_digits.preprocess.normalize`), so the synthetic references look exactly as
drawings do once prepared. How many is a preset's choice (``Preset.styles``).

A style must not turn a digit into another's look-alike: a hook under a 9 whose loop is not
closed (a fifth of MNIST's 9s are bold blobs or open loops) makes a 1 with a flag and a foot,
and real writers' 1s of that shape read 9. Such 9s are not hooked.

>>> images, labels = load_mnist()                                   # doctest: +SKIP
>>> more, more_labels = synthesize_styles(images, labels, {1: 0.5})  # doctest: +SKIP
>>> more.shape, set(more_labels)                                     # doctest: +SKIP
((3371, 28, 28), {1})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from knn_digits.preprocess import normalize

__all__ = ["STYLES", "VERSION", "add_stroke", "synthesize_styles"]

# Bumped whenever the copies change: a styled preset's cached fit is keyed by it.
VERSION = 4

# Room around the skeleton for a stroke that reaches outside the digit's box (working pixels).
_MARGIN = 60

# The smallest loop a hooked 9 may have, as a share of its height squared (a round loop a third
# of the height across encloses ~0.09). Tune writers' 1s read 9: 7–9 per 2,498 → 2–4
# (docs/real_handwriting.md).
MIN_LOOP = 0.02

Stroke = np.ndarray  # (n, 2) float (x, y) points in the padded skeleton's pixels


def _skeleton(digit: np.ndarray) -> np.ndarray:
    """The digit's pen path at the drawing pipeline's working resolution, with a margin."""
    mask = normalize._working_mask(np.asarray(digit, np.float32))
    skeleton = normalize.skeletonize(mask)
    return np.pad(skeleton if skeleton.any() else mask, _MARGIN)


def flag_one(skeleton: np.ndarray, rng: np.random.Generator) -> Stroke | None:
    """A flag from the top of a "1", down to the left, 30–70° below the horizontal, 20–60 % of
    the digit's height long: real writers' long, shallow flags were read 7 when the copies'
    flags were shorter and steeper (tune writers' 1→7: 51 → 29 of 7,494 pen digits), at a cost
    of 3 MNIST validation digits (a short-barred 7 now and then reads 1;
    docs/real_handwriting.md)."""
    rows, cols = np.nonzero(skeleton)
    top, height = rows.min(), np.ptp(rows) + 1
    x = cols[rows <= top + 1].mean()
    length = rng.uniform(0.2, 0.6) * height
    angle = np.deg2rad(rng.uniform(30, 70))
    return np.array([(x, top), (x - length * np.cos(angle), top + length * np.sin(angle))])


def hook_nine(skeleton: np.ndarray, rng: np.random.Generator) -> Stroke | None:
    """A tail hooking left from the bottom of a "9" (a quadratic curve, 25–50 % of its height),
    the shape MNIST's nearest look-alike of which is a 3's lower bowl. None for a 9 without a
    closed loop: hooked, it would look like a 1 with a flag and a foot."""
    rows, cols = np.nonzero(skeleton)
    bottom, height = rows.max(), np.ptp(rows) + 1
    if _enclosed_area(skeleton) < MIN_LOOP * height**2:
        return None
    start = np.array([cols[rows >= bottom - 1].mean(), bottom])
    length = rng.uniform(0.25, 0.5) * height
    bend = start + (0, 0.5 * length)
    end = start + (-length, (0.5 - rng.uniform(0, 0.4)) * length)
    t = np.linspace(0, 1, 12)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end


def cross_seven(skeleton: np.ndarray, rng: np.random.Generator) -> Stroke | None:
    """A bar across a "7"'s stem at 45–62 % of its height, 35–60 % of the height long, tilted
    up to 10°. Real writers' crossed 7s were read 2 (the bar looks like a 2's foot); bars a
    quarter of the height long gained little (tune writers' 7→2: 59 → 50 of 14,988 pen digits,
    with these 59 → 39; docs/real_handwriting.md). None where the stem is not one narrow run
    of pen at that height (a 7 drawn almost flat)."""
    rows, cols = np.nonzero(skeleton)
    top, height = rows.min(), np.ptp(rows) + 1
    y = top + rng.uniform(0.45, 0.62) * height
    stem = cols[np.abs(rows - y) <= 1]
    if len(stem) == 0 or np.ptp(stem) > 0.25 * height:
        return None
    x = stem.mean()
    half = rng.uniform(0.35, 0.6) * height / 2
    rise = np.tan(np.deg2rad(rng.uniform(-10, 10))) * half
    return np.array([(x - half, y + rise), (x + half, y - rise)])


def slash_zero(skeleton: np.ndarray, rng: np.random.Generator) -> Stroke | None:
    """A slash through a "0" from corner to corner of its box (mostly rising to the right, as
    "Ø"), ending up to a tenth of the height outside it. Drawn slashed zeros were read 8 or 2
    more often than 0 (59 of 150 read 0) without such references; with them, all 150."""
    rows, cols = np.nonzero(skeleton)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    over = rng.uniform(-0.05, 0.1) * (bottom - top + 1)
    if rng.random() < 0.5:
        return np.array([(right + over / 2, top - over), (left - over / 2, bottom + over)])
    return np.array([(left - over / 2, top - over), (right + over / 2, bottom + over)])


def _enclosed_area(path: np.ndarray) -> int:
    """Pixels the pen path encloses (the holes of its loops)."""
    return int((ndimage.binary_fill_holes(path) & ~path).sum())


STYLES: dict[int, Callable[[np.ndarray, np.random.Generator], Stroke | None]] = {
    0: slash_zero,
    1: flag_one,
    7: cross_seven,
    9: hook_nine,
}


def add_stroke(skeleton: np.ndarray, stroke: Stroke) -> np.ndarray:
    """The skeleton with a one-pixel polyline added, drawn as a drawing is: (28, 28) float32."""
    picture = Image.fromarray(skeleton.astype(np.uint8) * 255)
    ImageDraw.Draw(picture).line([(float(x), float(y)) for x, y in stroke], fill=255, width=1)
    path = np.asarray(picture) > 0
    return normalize._fit_and_centre(normalize._redraw(path))


def synthesize_styles(
    images: np.ndarray,
    labels: np.ndarray,
    shares: Mapping[int, float],
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Styled copies of training digits: ``shares[label]`` per training digit of that label.

    Args:
        images: (n, 28, 28) uint8 or float in [0, 1], MNIST-like digits.
        labels: (n,) their labels.
        shares: label → styled copies per training digit of that label (≤ 1), for labels in
            :data:`STYLES`.
        seed: the random stream; the same inputs give the same copies.

    Returns:
        (images (m, 28, 28) float32 in [0, 1], labels (m,) int64), m ≈ Σ share · count.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    rng = np.random.default_rng(seed)
    made: list[np.ndarray] = []
    made_labels: list[int] = []
    for label, share in sorted(shares.items()):
        if label not in STYLES:
            raise ValueError(f"no style for label {label}; styles exist for {sorted(STYLES)}")
        pool = rng.permutation(np.flatnonzero(labels == label))
        wanted = round(share * len(pool))
        for index in pool:
            if wanted == 0:
                break
            skeleton = _skeleton(images[index] / scale)
            stroke = STYLES[label](skeleton, rng)
            if stroke is not None:
                made.append(add_stroke(skeleton, stroke))
                made_labels.append(label)
                wanted -= 1
    if not made:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.stack(made).astype(np.float32), np.array(made_labels, np.int64)
