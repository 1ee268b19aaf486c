"""Handwriting styles MNIST's writers rarely used, synthesized from MNIST's own digits.

MNIST's writers were American; many people elsewhere write a "1" with a long flag, a "9"
whose tail hooks to the left, a "7" crossed at its middle, a "0" slashed through and a narrow
"4" whose right stem starts low. MNIST's nearest look-alikes of those are a 7, a 3, a 2, an 8
and a 6: misreadings of real writers outside MNIST (benchmarks/real_handwriting.py). A k-NN
can only read a style it has references for, so this adds them: it takes an MNIST digit's
skeleton (the pen's path), adds the missing pen stroke (or reshapes the path), and draws the
result through the same pipeline as a drawing (:mod:`knn_digits.preprocess.normalize`), so
the synthetic references look exactly as drawings do once prepared. How many is a preset's
choice (``Preset.styles``).

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

__all__ = ["STYLES", "VERSION", "synthesize_styles"]

# Bumped whenever the copies change: a styled preset's cached fit is keyed by it.
VERSION = 5

# Room around the skeleton for a stroke that reaches outside the digit's box (working pixels).
_MARGIN = 60

# The smallest loop a hooked 9 may have, as a share of its height squared (a round loop a third
# of the height across encloses ~0.09). Tune writers' 1s read 9: 7–9 per 2,498 → 2–4
# (docs/real_handwriting.md).
MIN_LOOP = 0.02

# A narrowed "4" is this wide (its path, across its slant) for its height: the tune writers'
# 4s read 6 were 0.28–0.41 (quartiles), MNIST's 4s 0.55–0.80 (docs/real_handwriting.md).
NARROW_FOUR = (0.32, 0.45)

Stroke = np.ndarray  # (n, 2) float (x, y) points in the padded skeleton's pixels
Path = np.ndarray  # a pen path: bool, the padded skeleton's shape


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


def narrow_four(skeleton: np.ndarray, rng: np.random.Generator) -> Path | None:
    """A "4" as some writers make it: narrow, its left stroke alone at the top, the right stem
    starting low. Such 4s look to MNIST like a narrow 6 whose loop the bar closes (tune writers'
    4→6: 88 → 29 of ~1,560 pen 4s, three brushes; docs/real_handwriting.md). The right stem is
    cut down to 30–50 % of the height (some of it stays above the bar), then the path is
    narrowed about its slant axis to :data:`NARROW_FOUR`. None for a 4 with a closed top (it
    would narrow to a 9 or a blob), one whose stem would vanish, one leaning more than 0.5 px
    per px, or one already that narrow."""
    rows, _ = np.nonzero(skeleton)
    if _enclosed_area(skeleton) >= MIN_LOOP * (np.ptp(rows) + 1) ** 2:
        return None
    cut = _stem_cut_low(skeleton, rng.uniform(0.3, 0.5))
    return None if cut is None else _narrowed(cut, rng.uniform(*NARROW_FOUR))


def _runs(row: np.ndarray) -> list[np.ndarray]:
    """The columns of a path row's separate pieces (gaps of more than 2 px), left to right."""
    cols = np.flatnonzero(row)
    return np.split(cols, np.flatnonzero(np.diff(cols) > 2) + 1) if len(cols) else []


def _stem_cut_low(path: Path, depth: float) -> Path | None:
    """The path without its rightmost piece in every row above ``depth`` of its height that holds
    two pieces (a 4's right stem beside its left stroke), keeping the largest connected part.
    None unless some stem (two pieces in a row, over 8 % of the height) stays above the bar,
    the widest row 40–85 % down."""
    rows, _ = np.nonzero(path)
    top, height = rows.min(), np.ptp(rows) + 1
    cut = path.copy()
    for y in range(top, int(top + depth * height)):
        pieces = _runs(path[y])
        if len(pieces) > 1:
            cut[y, pieces[-1]] = False
    band = [y for y in range(int(top + 0.4 * height), int(top + 0.85 * height)) if cut[y].any()]
    bar = max(band, key=lambda y: np.ptp(np.flatnonzero(cut[y])), default=top)
    stem = sum(len(_runs(cut[y])) > 1 for y in range(int(top + depth * height), bar))
    if stem < 0.08 * height:
        return None
    parts, count = ndimage.label(cut, np.ones((3, 3)))
    sizes = ndimage.sum(cut, parts, range(1, count + 1))
    return parts == 1 + int(np.argmax(sizes))


def _narrowed(path: Path, aspect: float) -> Path | None:
    """The path squeezed across its slant axis (the line the moment deskew would make upright)
    until it is ``aspect`` as wide as tall; None if it leans more than 0.5 px per px (squeezed, it
    would become a diagonal bar) or is already that narrow."""
    rows, cols = np.nonzero(path)
    slant = np.cov(cols, rows)[0, 1] / rows.var()
    if abs(slant) > 0.5:
        return None
    axis = cols.mean() + slant * (rows - rows.mean())
    across = cols - axis
    now = (np.ptp(across) + 1) / (np.ptp(rows) + 1)
    if now <= aspect:
        return None
    narrow = np.zeros_like(path)
    narrow[rows, np.rint(axis + across * aspect / now).astype(int)] = True
    return narrow


def _enclosed_area(path: np.ndarray) -> int:
    """Pixels the pen path encloses (the holes of its loops)."""
    return int((ndimage.binary_fill_holes(path) & ~path).sum())


Style = Callable[[np.ndarray, np.random.Generator], "Path | None"]


def _adding(stroke_of: Callable[[np.ndarray, np.random.Generator], Stroke | None]) -> Style:
    """A style that adds the stroke ``stroke_of`` finds (None: no copy of this digit)."""

    def style(skeleton: np.ndarray, rng: np.random.Generator) -> Path | None:
        stroke = stroke_of(skeleton, rng)
        return None if stroke is None else _with_stroke(skeleton, stroke)

    return style


def _with_stroke(skeleton: np.ndarray, stroke: Stroke) -> Path:
    """The skeleton with a one-pixel polyline added."""
    picture = Image.fromarray(skeleton.astype(np.uint8) * 255)
    ImageDraw.Draw(picture).line([(float(x), float(y)) for x, y in stroke], fill=255, width=1)
    return np.asarray(picture) > 0


#: label → its style: the styled pen path of a skeleton, or None (no copy of that digit).
#: Copies are drawn in this order from one random stream: a style added at the end leaves the
#: copies of those before it as they were, so what it changes is its own doing.
STYLES: dict[int, Style] = {
    0: _adding(slash_zero),
    1: _adding(flag_one),
    7: _adding(cross_seven),
    9: _adding(hook_nine),
    4: narrow_four,
}


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
    unknown = sorted(set(shares) - set(STYLES))
    if unknown:
        raise ValueError(f"no style for label {unknown[0]}; styles exist for {sorted(STYLES)}")
    for label in (label for label in STYLES if label in shares):
        share = shares[label]
        pool = rng.permutation(np.flatnonzero(labels == label))
        wanted = round(share * len(pool))
        for index in pool:
            if wanted == 0:
                break
            path = STYLES[label](_skeleton(images[index] / scale), rng)
            if path is not None:  # drawn as a drawing is
                made.append(normalize._fit_and_centre(normalize._redraw(path)))
                made_labels.append(label)
                wanted -= 1
    if not made:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.stack(made).astype(np.float32), np.array(made_labels, np.int64)
