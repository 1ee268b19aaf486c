"""Several digits on one canvas: split the ink of a written number into digits, left to right.

Geometry proposes, recognition chooses. The ink's connected components are first grouped into
*blocks* where the grouping is not in doubt (a stroke nested in another's columns, as a 4's
second stroke, a 7's bar or a 1's base; a stroke stacked above another, as a 5's hat; a speck).
A block wider than a narrow digit may be digits that touch or overlap. The scorer (the model's
confidence, see :data:`Scorer`) first reads each such block whole; one that reads well stays
whole, unsearched, so a wide digit costs one read and no cut search, as before there was
segmentation. The others are cut into slices along the top-to-bottom paths that cross the
least ink. Of the rest, neighbouring pieces whose
columns meet or overlap may be one digit or two. Every way of reading such a run of pieces is
a *hypothesis*; the scorer scores them all in one batch, and dynamic programming picks the
reading whose digits score best in sum, less what its cuts cost (a cut through a loop crosses
two strokes and pays for the second). Without a scorer no block is cut and neighbours join by
geometry alone, as the app did before it had a model to ask.

>>> ink = np.zeros((60, 120), np.float32)
>>> ink[10:50, 20:26] = 1                  # a 1 ...
>>> ink[10:50, 80:86] = 1                  # ... and another, well apart
>>> [piece.box for piece in segment_number(ink)]
[(10, 20, 50, 26), (10, 80, 50, 86)]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from knn_digits.errors import EmptyImageError
from knn_digits.preprocess.ink import _EMPTY_CANVAS
from knn_digits.preprocess.normalize import normalize_digit

__all__ = ["Piece", "Scorer", "segment_digits", "segment_number"]

# A stroke whose columns lie this much within another's belongs to it for sure (the two strokes
# of a 4, a 7's bar, a 1's base). Neighbouring digits that touch overlap less than this.
NEST_FRACTION = 0.8
# Without a scorer, blocks whose columns overlap by this much of the narrower join (the rule
# before recognition-driven segmentation).
OVERLAP_FRACTION = 0.5
# Blobs with less ink than this fraction of the largest are pieces (a dot, a broken stroke):
# they join their horizontally nearest neighbour. A "1" next to an "8" has ~30 % of its ink.
PIECE_FRACTION = 0.15
# The sizes below are fractions of the line's height (the rows the ink spans).
CUT_WIDTH = 0.6  # wider may be digits that touch (a "1" touching a "6": ~0.8): try cuts
MIN_SLICE = 0.15  # no slice narrower than this (a "1" drawn with a thick brush is wider)
CUTS_PER_HEIGHT = 2.5  # cuts tried per height of a block's width, the cheapest first
CUT_REACH = 0.5  # a cut strays at most this much of MIN_SLICE from its column
CUT_STEP = 0.1  # a cut's sideways step costs this much of a pixel of ink crossed
# A cut pays for each pixel of a loop's inside it crosses as for a pixel of ink: it goes round a
# 0 or a 6's bowl, not through it, and finds the join of two touching round digits instead
# (tune numbers: touching digits' count right 96.5 → 98.5 %). Background enclosed by ink is a
# loop's inside when it is at least HOLE of the line's height across (a square of that side).
HOLE_COST = 1.0
HOLE = 0.05
# No cut leaves less than SLIVER stroke widths of ink on either side: a cut along the wall of a
# 0 leaves a sliver that reads as a 1 (tune pen digits cut in two, of 7,500: 29 before loops
# cost anything, 30 with the cost of loops alone, 27 with this too).
SLIVER = 1.0
# Nor less ink than a stroke MIN_STROKE of the line's height long (ink / stroke width): the end
# of a curve at a block's edge, cheap to cut off, reads as a 1 and filled the cut budget, so the
# cut between two touching digits was not tried ("68" read as "2"). A 1 is a stroke the height
# of the line. Tune numbers (600 + 1,200 of another seed): wrong digit counts 2 + 27 → 3 + 19,
# reads per 5-digit number 10.8 → 8.3 (p95 24 → 15); tune pen digits cut in two 12 → 15 (thick
# brush 1 → 4: the long flag of a thick 1, a 4's upright). 0.45 and 0.6: 21 and 20 of 1,200.
MIN_STROKE = 0.75
# Cuts are sought on the line shrunk to at most this many rows: the search holds rows × columns ×
# reach numbers (a canvas's numbers are under 200 rows; a photo's ink may be thousands).
CUT_ROWS = 256
JOIN_GAP = 0.03  # pieces nearer than this (or overlapping) may be one digit
MAX_WIDTH = 1.6  # no hypothesis is wider than this
MAX_PIECES = 4  # no hypothesis joins more pieces than this (a block cut three times)
# Digits are rarely wider than high: a hypothesis wider than MAX_ASPECT times its own height
# loses ASPECT_COST per unit of excess from its score (two digits read as one often still win a
# clear vote).
MAX_ASPECT = 1.0
ASPECT_COST = 4.0
# Digits of a number span most of its height: a hypothesis lower than MIN_HEIGHT of the line
# loses SHORT_COST per unit it lacks (the flag cut off a "1" reads as a "1" of its own, and so
# does the wall of a 0 or the upright of a 4 cut off a single digit). 0.75, not 0.5: tune pen
# digits cut in two 23 → 12 of 7,500, numbers' wrong digit counts 29 → 27 of 1,200 (composed
# digits are 0.9–1.1 of a height, jittered ±5 %: ≥ ~0.75 of their line).
MIN_HEIGHT = 0.75
SHORT_COST = 4.0
# A cut costs this much per stroke it crosses beyond the first: between touching digits a cut
# crosses one stroke (their join), through a loop (a 0 cut into "10", a 2's hook and base) two.
# Tune writers: single pen digits cut in two 46 → 28 per 7,500, numbers' digit count right
# 98.2 → 98.5 % (costs 0.5 and 2: 31 and 27 cut, 98.3 and 97.8 %).
CROSS_COST = 1.0
# A block that reads at least this well whole is not cut: a wide digit read well costs one
# read, as before segmentation asked the model, and a 0 is not read as a 1 and a sliver.
ACCEPT = -2.5

Scorer = Callable[[list[np.ndarray]], np.ndarray]
"""Scores digits (each (28, 28) float32 in [0, 1]) as an array (n,): higher is more like one
well-read digit. The sum over a reading's digits is what segmentation maximises, so a score is
a log-likelihood-like quantity, and splitting a digit in two must cost more than it earns."""


@dataclass(frozen=True)
class Piece:
    """One digit as segmentation cut it: its box on the canvas and its MNIST-like image.

    ``box`` is (top, left, bottom, right) in canvas pixels, bottom and right exclusive;
    ``digit`` is (28, 28) float32 in [0, 1].
    """

    box: tuple[int, int, int, int]
    digit: np.ndarray


@dataclass(eq=False)
class _Blob:
    """Ink that may be one digit: a mask on the cropped canvas and its box."""

    mask: np.ndarray
    rows: tuple[int, int]
    cols: tuple[int, int]
    cut: bool = False  # a slice of a cut block: its neighbour slice may be the same digit
    crossed: int = 0  # strokes the cut on its left crosses (0: no cut there)

    @classmethod
    def of(cls, mask: np.ndarray, cut: bool = False, crossed: int = 0) -> _Blob:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)
        return cls(mask, *box, cut, crossed)

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def width(self) -> int:
        return self.cols[1] - self.cols[0]

    @property
    def centre(self) -> float:
        return (self.cols[0] + self.cols[1]) / 2

    def overlap(self, other: _Blob) -> tuple[float, float]:
        """Column overlap (negative: the gap) and row overlap, as fractions of the narrower
        and of the shorter of the two."""

        def shared(a: tuple[int, int], b: tuple[int, int]) -> float:
            return (min(a[1], b[1]) - max(a[0], b[0])) / min(a[1] - a[0], b[1] - b[0])

        return shared(self.cols, other.cols), shared(self.rows, other.rows)

    def joined(self, other: _Blob) -> _Blob:
        return _Blob.of(self.mask | other.mask, self.cut and other.cut, self.crossed)


def _blocks(blobs: list[_Blob], nest: float) -> list[_Blob]:
    """Join blobs that are one digit for sure: nested columns, stacked rows, small pieces."""
    blobs = list(blobs)
    joined = True
    while joined:
        joined = False
        for i, j in itertools.combinations(range(len(blobs)), 2):
            cols, rows = blobs[i].overlap(blobs[j])
            if cols >= nest or (cols > 0 and rows < OVERLAP_FRACTION):
                blobs[i] = blobs[i].joined(blobs.pop(j))
                joined = True
                break
    while len(blobs) > 1:
        small = min(blobs, key=lambda blob: blob.area)
        if small.area >= PIECE_FRACTION * max(blob.area for blob in blobs):
            break
        blobs.remove(small)
        near = min(range(len(blobs)), key=lambda i: abs(blobs[i].centre - small.centre))
        blobs[near] = blobs[near].joined(small)
    return sorted(blobs, key=lambda blob: blob.centre)


def _slices(block: _Blob, height: int) -> list[_Blob]:
    """A wide block cut along its cheapest top-to-bottom paths, left to right.

    Every column ends a least-ink path (:func:`_cut_paths`); the columns whose path crosses
    less ink than any other within ``MIN_SLICE`` of the height are the cuts, the cheapest
    first, at most ``CUTS_PER_HEIGHT`` per height of width. Where two digits touch, a path slips
    between them crossing one stroke or none; through a loop (a 0, the bowl of a 6) it must
    cross two strokes and the loop's inside, which costs as much as ink, so loops, the deepest
    valleys of a plain ink profile, are seldom cut. No cut leaves a sliver thinner than a
    stroke, or less ink than a stroke most of the line's height long, on either side.
    """
    if block.width <= CUT_WIDTH * height:
        return [block]
    step = -(-height // CUT_ROWS)  # paths are found on the block shrunk by this factor
    small = _shrink(block.mask[:, block.cols[0] : block.cols[1]], step)
    margin = max(1, round(MIN_SLICE * height / step))
    costs, paths = _cut_paths(
        small + HOLE_COST * _insides(small, HOLE * height / step), round(CUT_REACH * margin)
    )
    stroke = _stroke_width(small)
    thick = SLIVER * stroke
    ink_cols = np.flatnonzero(small.any(axis=0))
    sliver = (paths.max(axis=1) - ink_cols[0] < thick) | (
        ink_cols[-1] + 1 - paths.min(axis=1) < thick
    )
    left = _ink_left_of(small, paths)  # (W,)
    sliver |= np.minimum(left, small.sum() - left) < MIN_STROKE * stroke * height / step
    costs = np.where(sliver, np.inf, costs)  # (W,): never a cut
    inner = costs[margin : small.shape[1] - margin]
    if not len(inner):
        return [block]
    lowest = ndimage.minimum_filter1d(inner, 2 * margin + 1, mode="nearest") == inner
    runs, n_runs = ndimage.label(lowest)  # a flat minimum is one cut, at its middle
    middles = ndimage.center_of_mass(lowest, runs, range(1, n_runs + 1))
    ends = sorted((margin + round(m[0]) for m in middles), key=lambda c: costs[c])
    ends = [c for c in ends if np.isfinite(costs[c])]  # a minimum among slivers is one too
    cuts: list[int] = []
    for c in ends[: max(1, round(CUTS_PER_HEIGHT * block.width / height))]:
        if all(abs(c - other) >= margin for other in cuts):
            cuts.append(int(c))
    columns = np.arange(block.mask.shape[1])[None, :]  # (1, W)
    edges = [
        np.zeros(len(block.mask), np.int64),
        *(
            block.cols[0] + np.repeat(paths[c] * step + step // 2, step)[: len(block.mask)]
            for c in sorted(cuts)
        ),
        np.full(len(block.mask), block.cols[1]),
    ]
    edges = list(np.maximum.accumulate(np.stack(edges), axis=0))  # paths never cross
    crossed = [0, *(_strokes_crossed(small, paths[c]) for c in sorted(cuts))]
    pieces = []
    for left, right, strokes in zip(edges[:-1], edges[1:], crossed, strict=True):
        piece = block.mask & (columns >= left[:, None]) & (columns < right[:, None])
        if piece.any():
            pieces.append(_Blob.of(piece, cut=True, crossed=strokes))
    return pieces


def _ink_left_of(mask: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """The ink of ``mask`` (H, W) left of each top-to-bottom path of ``paths`` (n, H)."""
    before = np.pad(np.cumsum(mask, axis=1), ((0, 0), (1, 0)))  # (H, W + 1): ink left of col
    return before[np.arange(mask.shape[0]), paths].sum(axis=1)


def _strokes_crossed(mask: np.ndarray, path: np.ndarray) -> int:
    """How many strokes of ``mask`` (H, W) the top-to-bottom ``path`` (H,) of columns crosses:
    the runs of ink along it. Between touching digits a cut crosses one; through a loop, two."""
    ink = mask[np.arange(len(path)), path].astype(np.int8)
    return int(np.count_nonzero(np.diff(ink, prepend=0) == 1))


def _stroke_width(mask: np.ndarray) -> float:
    """The typical width of the strokes of ``mask`` (H, W): a stroke w wide and L long has
    area wL and about 2L pixels on its edge."""
    edge = mask & ~ndimage.binary_erosion(mask)
    return 2 * float(mask.sum()) / max(1, int(edge.sum()))


def _insides(mask: np.ndarray, side: float) -> np.ndarray:
    """The insides of the loops of ``mask`` (H, W), as a bool mask: background the ink
    encloses, at least ``side`` × ``side`` pixels in area (smaller: where a stroke doubled back).
    """
    labels, n = ndimage.label(np.pad(~mask, 1, constant_values=True))  # 1: the outside
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    inside = sizes >= side**2
    inside[:2] = False  # the ink, and the outside
    return np.asarray(inside[labels][1:-1, 1:-1])


def _shrink(mask: np.ndarray, step: int) -> np.ndarray:
    """``mask`` (H, W) shrunk ``step`` times: a cell is ink if any pixel it covers is."""
    if step == 1:
        return mask
    height, width = -(-mask.shape[0] // step), -(-mask.shape[1] // step)
    padded = np.zeros((height * step, width * step), bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return np.asarray(padded.reshape(height, step, width, step).any(axis=(1, 3)))


def _cut_paths(mask: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """For every column of ``mask`` (H, W), the top-to-bottom path that crosses the least ink
    while staying within ``reach`` columns of it: the ink each crosses (W,), and each path as
    columns (W, H).

    Shortest paths (dynamic programming, one row at a time, all columns at once), like
    drop-fall but choosing the whole path at once: a path slips round the curves of two digits
    that touch instead of slicing through them. A sideways step costs a little, so a path stays
    straight where it can.
    """
    height, width = mask.shape
    offsets = np.arange(-reach, reach + 1)  # (O,): where a path is, relative to its column
    where = np.arange(width)[:, None] + offsets  # (W, O)
    padded = np.pad(mask.astype(np.float64), ((0, 0), (0, 1)), constant_values=np.inf)
    ink = padded[:, np.where((where >= 0) & (where < width), where, width)]  # (H, W, O)
    total = ink[0].copy()  # (W, O)
    came = np.zeros(ink.shape, np.int8)  # the step (-1, 0, +1) each cell was reached by
    for row in range(1, height):
        options = np.stack(
            [
                np.pad(total[:, :-1], ((0, 0), (1, 0)), constant_values=np.inf) + CUT_STEP,
                total,
                np.pad(total[:, 1:], ((0, 0), (0, 1)), constant_values=np.inf) + CUT_STEP,
            ]
        )  # (3, W, O): arriving from the left, from above, from the right
        step = options.argmin(axis=0)
        total = np.take_along_axis(options, step[None], axis=0)[0] + ink[row]
        came[row] = step - 1
    end = total + CUT_STEP * np.abs(offsets) / height  # (W, O): ties go to straight paths
    x = end.argmin(axis=1)  # (W,) offset index each path ends at
    costs = end[np.arange(width), x]
    paths = np.empty((width, height), np.int64)
    for row in range(height - 1, -1, -1):
        paths[:, row] = np.arange(width) + offsets[x]
        x = x + came[row, np.arange(width), x]
    return costs, paths


def _hypotheses(pieces: list[_Blob], height: int) -> list[tuple[int, int]]:
    """Runs [start, stop) of neighbouring pieces that may be one digit (every piece alone too)."""
    runs = []
    for start in range(len(pieces)):
        union = pieces[start]
        runs.append((start, start + 1))
        for stop in range(start + 2, min(start + MAX_PIECES, len(pieces)) + 1):
            following = pieces[stop - 1]
            cols, _ = union.overlap(following)
            touching = (union.cut and following.cut) or cols * min(
                union.width, following.width
            ) >= -JOIN_GAP * height
            union = union.joined(following)
            if not touching or union.width > MAX_WIDTH * height:
                break
            runs.append((start, stop))
    return runs


def _best_reading(runs: list[tuple[int, int]], scores: np.ndarray, n: int) -> list[int]:
    """Indices into ``runs`` of the reading of pieces 0..n that scores best (dynamic
    programming over where each digit ends)."""
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    came: list[int] = [-1] * (n + 1)
    for stop in range(1, n + 1):
        for i, (start, end) in enumerate(runs):
            if end == stop and best[start] + scores[i] > best[stop]:
                best[stop], came[stop] = best[start] + scores[i], i
    chosen, stop = [], n
    while stop > 0:
        chosen.append(came[stop])
        stop = runs[came[stop]][0]
    return chosen[::-1]


def _piece(ink: np.ndarray, blobs: Sequence[_Blob], origin: tuple[int, int]) -> Piece:
    mask = np.logical_or.reduce([blob.mask for blob in blobs])
    blob = _Blob.of(mask)
    top, left = origin
    box = (top + blob.rows[0], left + blob.cols[0], top + blob.rows[1], left + blob.cols[1])
    return Piece(box, normalize_digit(np.where(mask, ink, 0.0)[_box(blob)]))


def _box(blob: _Blob) -> tuple[slice, slice]:
    return slice(*blob.rows), slice(*blob.cols)


def segment_number(ink: np.ndarray, scorer: Scorer | None = None) -> list[Piece]:
    """Split the ink of a written number into its digits, left to right.

    Args:
        ink: array (H, W) in [0, 1], ink high (from :func:`sketch_to_ink` or
            :func:`image_to_ink`).
        scorer: scores candidate digits (see :data:`Scorer`); with one, touching digits are
            cut apart and doubtful joins decided by how well each reading reads. Without one,
            nothing is cut and strokes join by geometry alone.

    Returns:
        The digits found, left to right (see :class:`Piece`).

    Raises:
        EmptyImageError: no ink at all.
    """
    ink = np.asarray(ink, np.float32)
    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n == 0:
        raise EmptyImageError(_EMPTY_CANVAS)
    rows, cols = np.flatnonzero((labels > 0).any(axis=1)), np.flatnonzero((labels > 0).any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    ink, labels = ink[crop], labels[crop]
    origin = (int(rows[0]), int(cols[0]))
    components = [_Blob.of(labels == i) for i in range(1, n + 1)]
    if scorer is None:
        return [_piece(ink, [block], origin) for block in _blocks(components, OVERLAP_FRACTION)]
    height = ink.shape[0]
    blocks = _blocks(components, NEST_FRACTION)
    candidates: dict[tuple[int, int], Piece] = {}
    pieces: list[_Blob] = []

    def candidate(run: tuple[int, int]) -> Piece:
        if run not in candidates:
            candidates[run] = _piece(ink, pieces[run[0] : run[1]], origin)
        return candidates[run]

    def costed(digits: list[Piece], crossed: np.ndarray) -> np.ndarray:
        """The scorer's scores less the costs of odd shapes and of cuts through loops."""
        if not digits:
            return np.zeros(0)
        scores = np.asarray(scorer([piece.digit for piece in digits]), np.float64)
        boxes = np.array([piece.box for piece in digits])  # (n, 4): top, left, bottom, right
        heights = boxes[:, 2] - boxes[:, 0]
        aspects = (boxes[:, 3] - boxes[:, 1]) / heights
        return (
            scores
            - ASPECT_COST * np.clip(aspects - MAX_ASPECT, 0.0, None)
            - SHORT_COST * np.clip(MIN_HEIGHT - heights / height, 0.0, None)
            - CROSS_COST * np.clip(crossed - 1, 0, None)
        )

    def score(chosen: list[tuple[int, int]]) -> np.ndarray:
        crossed = np.array([pieces[run[0]].crossed for run in chosen])  # by its left cut
        return costed([candidate(run) for run in chosen], crossed)

    # A wide block that reads well whole is not searched for cuts: the search is most of a
    # single wide digit's time, and its cuts would be refused anyway.
    wide = [i for i, block in enumerate(blocks) if block.width > CUT_WIDTH * height]
    whole = {i: _piece(ink, [blocks[i]], origin) for i in wide}
    reads_well = costed(list(whole.values()), np.zeros(len(wide))) >= ACCEPT
    cut = {i for i, good in zip(wide, reads_well, strict=True) if not good}
    wholes = []
    for i, block in enumerate(blocks):
        slices = _slices(block, height) if i in cut else [block]
        wholes.append((len(pieces), len(pieces) + len(slices)))
        if i in whole:  # its slices together are the block: read already, not drawn again
            candidates[wholes[-1]] = whole[i]
        pieces += slices
    runs = _hypotheses(pieces, height)
    if runs == wholes:  # every block reads well uncut (or is too narrow to cut), none joins
        return [candidate(run) for run in wholes]
    return [candidates[runs[i]] for i in _best_reading(runs, score(runs), len(pieces))]


def segment_digits(ink: np.ndarray, scorer: Scorer | None = None) -> list[np.ndarray]:
    """The digits of a written number, left to right, each as MNIST 28×28.

    :func:`segment_number` without the boxes: arrays of shape (28, 28), float32 in [0, 1].

    Raises:
        EmptyImageError: no ink at all.
    """
    return [piece.digit for piece in segment_number(ink, scorer)]
