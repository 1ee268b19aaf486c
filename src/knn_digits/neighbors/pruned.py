"""Exact k-NN below the brute-force limit: a lower bound rules most references out unseen.

Rotating the data onto its principal axes keeps every Euclidean distance. Split each centred
point into its first h rotated coordinates (the head) and the rest (the tail); then

    ‖q − r‖² = ‖q_h − r_h‖² + ‖q_t − r_t‖² ≥ ‖q_h − r_h‖² + (‖q_t‖ − ‖r_t‖)²  =: bound(q, r)

by the triangle inequality on the tail. On digits the first 64 axes hold most of the variance,
so the bound is tight, and it costs one BLAS product of h + 2 columns instead of all d: with
``[q_h, ‖q_t‖, 1] · [r_h, ‖r_t‖, −½‖r‖²] = s`` the bound is ``‖q‖² − 2s`` (the norms ride in
the product as in :mod:`.brute`). Any orthonormal basis keeps the bound valid, so the axes are
fitted once on a sample and kept when references are added.

The search, per block of queries:

1. Find 16 first candidates: the references nearest in the head's coordinates within the 4
   cells (of 256, :class:`.cells.CellIndex`) nearest the query; measure their exact
   distances: the k-th of them, τ, is an upper bound of the k-th nearest distance. On MNIST
   it is the true k-th distance for most queries, and a tight τ from the start is what keeps
   step 2's survivors few (the best bounds among every 8th reference, as before, left τ 28 %
   too large at the median).
2. Bound every reference; one whose bound is within τ is checked again with two more groups of
   64 rotated coordinates (tighter bounds, a few hundred bytes read), and only if still within
   τ gets its exact distance (d floats read); each one that enters the top k lowers τ. On
   MNIST (k = 3) about 90 references per query pass the product (of 60,000; 130 with the
   old first candidates): the search costs ~0.15× the bare product on one thread (0.16–0.19×
   on two, loaded), half of it the head's product, which runs at the full product's speed
   per flop.
3. The kept candidates are re-ranked by :class:`.brute.NeighborIndex`'s own exact distances, so
   results equal brute force's: same neighbours (up to exact distance ties), same distances.

Rounding: the bound is computed in float32, so a reference is ruled out only when its bound
exceeds τ by a slack of 1e-4·(‖q‖² + max‖r‖²) (centred), ten times the worst float32 error of
the product (plus 1e-5 for cosine: float32 unit rows are not exactly unit); the slack costs a
few extra exact distances, never a neighbour. Centring also spares the pruned search brute
force's weak spot: under a large common offset, brute force's float32 scores q·r − ½‖r‖² lose
the small differences (the tests show it picking wrong neighbours there).

Where the bound does not prune (random noise, where no few axes hold the variance), step 2
would check nearly everything: once more than 1 pair in 32 passes the product's bound, the
block and every later one go back to brute force. Cosine search runs on unit vectors, whose squared
Euclidean distance is twice the cosine distance (and at most twice it for an all-zero row).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import scipy.linalg

from .cells import CellIndex
from .parallel import single_threaded_blas
from .select import mark_at_least, mask_for

HEAD = 64  # rotated coordinates in the bound: 8 % of MNIST's 784, most of its variance
MIN_FEATURES = 256  # below this the head is no longer much cheaper than the whole product
MAX_FEATURES = 2048  # the rotation is a d × d eigendecomposition: beyond this, brute force
FIRST_CANDIDATES = 16  # step 1's candidates: a tight τ for k ≤ 16 (more when k is larger)
SLACK = 1e-4  # relative to ‖q‖² + max‖r‖²: ten times the bound's worst float32 error
# Cosine: float32 unit rows are unit only to ~3e-7 in ‖x‖², so 1 − q·r and ½‖q − r‖² differ
# by up to ~6e-7; this absolute slack (in squared Euclidean units) covers it ten times.
UNIT_SLACK = 1e-5
GIVE_UP = 1 / 32  # pairs passing the product's bound beyond which brute force is cheaper
LEVELS = 2  # groups of `HEAD` more coordinates checked before a full distance
SEED_CELLS = 256  # step 1's cells of the head coordinates (at most one per 64 references)
SEED_PROBES = 4  # cells step 1 searches per query: ~1.6 % of MNIST, a τ that is mostly exact
_FIT_SAMPLE = 8192  # references the axes are fitted on (any orthonormal basis is valid)
_ROTATE_CHUNK = 4096  # rows rotated at once, in float64


def principal_axes(points: np.ndarray, n_axes: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean (d,) and the ``n_axes`` leading principal axes (d, n_axes), float64, largest
    variance first, of a sample of the points: any orthonormal basis keeps every distance, so
    the axes need only hold most of the variance, not be exact. Call it with single-threaded
    BLAS (see :class:`RotationBound`)."""
    sample = points[:: max(1, len(points) // _FIT_SAMPLE)].astype(np.float64)
    mean = sample.mean(axis=0)
    centred = sample - mean
    d = points.shape[1]
    _, vectors = scipy.linalg.eigh(centred.T @ centred, subset_by_index=(d - n_axes, d - 1))
    return mean, np.ascontiguousarray(vectors[:, ::-1])


class RotationBound:
    """Principal axes of the references and each reference's rotated coordinates.

    Parameters
    ----------
    points : array of shape (n_ref, d), float32: the references in the metric's Euclidean
        space (as they are for "euclidean", unit rows for "cosine").
    head : rotated coordinates in the bound's product (at most d − 1).
    cosine : whether distances are cosine distances of the unit rows (else squared Euclidean).

    Beyond the head, ``LEVELS`` more groups of ``head`` coordinates are kept, with the tail
    norm after each: a reference the product's bound lets through is checked against these
    tighter bounds (a few hundred bytes read) before its full distance (d floats) is read.
    """

    def __init__(self, points: np.ndarray, head: int, cosine: bool) -> None:
        # Single-threaded BLAS and LAPACK: on a loaded two-core machine their threads spin,
        # and the eigendecomposition alone took 1–9 s threaded against 0.1 s on one thread.
        with single_threaded_blas():
            self._fit(points, head, cosine)

    def _fit(self, points: np.ndarray, head: int, cosine: bool) -> None:
        self.cosine = cosine
        levels = min(LEVELS, (points.shape[1] - head) // head)
        # Only the leading axes are needed: the tail norm stands for all the others.
        self.mean, self.axes = principal_axes(points, head * (1 + levels))
        self.head = head
        self.reference_side = np.empty((0, head + 2), np.float32)
        self.reference_steps = np.empty((0, levels + 1 + head * levels), np.float32)
        self.max_sq_norm = 0.0
        self._append(points)
        # Cells of random centres (no k-means steps): they only pick first candidates.
        n_cells = max(1, min(SEED_CELLS, len(points) // 64))
        self.cells = CellIndex(self.reference_side[:, :head], n_cells, iterations=0)

    def _rotate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rotated coordinates (n, h·(1 + levels)) float32, tail norms after the head and each
        level (n, levels + 1) and squared centred norms (n,), float64."""
        n = len(points)
        coords = np.empty((n, self.axes.shape[1]), np.float32)
        tails = np.empty((n, coords.shape[1] // self.head), np.float64)
        sq_norms = np.empty(n, np.float64)
        for start in range(0, n, _ROTATE_CHUNK):  # float64 in chunks: memory stays small
            rows = slice(start, start + _ROTATE_CHUNK)
            centred = points[rows].astype(np.float64) - self.mean
            chunk = centred @ self.axes
            sq_norms[rows] = np.einsum("ij,ij->i", centred, centred)
            within = np.cumsum(chunk**2, axis=1)[:, self.head - 1 :: self.head]
            tails[rows] = np.sqrt(np.maximum(sq_norms[rows, None] - within, 0.0))
            coords[rows] = chunk
        return coords, tails, sq_norms

    def add(self, points: np.ndarray) -> None:
        """Append references, on the axes (and in the cells) already fitted."""
        with single_threaded_blas():
            self.cells.add(self._append(points)[:, : self.head])

    def _append(self, points: np.ndarray) -> np.ndarray:
        """Append references' rotated rows; returns their side of the product,
        ``[r_h, ‖r_t‖, −½‖r‖²]`` (n, h + 2) float32."""
        coords, tails, sq_norms = self._rotate(points)
        side = np.empty((len(points), self.head + 2), np.float32)
        side[:, :-2], side[:, -2], side[:, -1] = (
            coords[:, : self.head],
            tails[:, 0],
            -0.5 * sq_norms,
        )
        self.reference_side = np.concatenate([self.reference_side, side])
        self.reference_steps = np.concatenate([self.reference_steps, self._steps(coords, tails)])
        if len(points):
            self.max_sq_norm = max(self.max_sq_norm, float(sq_norms.max()))
        return side

    def _steps(self, coords: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Rows ``[tail norms after the head and each level, the levels' coordinates]``,
        float32: what a reference the product lets through is checked with, in one read."""
        return np.hstack([tails.astype(np.float32), coords[:, self.head :]])

    def query_side(self, points: np.ndarray) -> Queries:
        """The queries' sides ``[q_h, ‖q_t‖, 1]`` and the rest of their coordinates."""
        coords, tails, sq_norms = self._rotate(points)
        side = np.empty((len(points), self.head + 2), np.float32)
        side[:, :-2], side[:, -2], side[:, -1] = coords[:, : self.head], tails[:, 0], 1.0
        return Queries(
            side,
            self._steps(coords, tails),
            sq_norms,
            SLACK * (sq_norms + self.max_sq_norm) + (UNIT_SLACK if self.cosine else 0.0),
        )


class Queries(NamedTuple):
    """A block of queries as the pruned search needs them (shapes as in RotationBound)."""

    side: np.ndarray  # (n, h + 2) float32: [q_h, ‖q_t‖, 1]
    steps: np.ndarray  # (n, levels + 1 + h · levels) float32: tail norms, then levels
    sq_norms: np.ndarray  # (n,) float64, centred
    slacks: np.ndarray  # (n,) float64: how far past τ a bound must be to rule out


def search_block(
    bound: RotationBound,
    points: np.ndarray,
    queries: np.ndarray,
    k: int,
    n_candidates: int,
    width: int,
) -> np.ndarray | None:
    """Candidates (n_query, n_candidates) int64 holding each query's k nearest, or None.

    ``points`` are the references and ``queries`` the queries (n_query, d) float32, both in the
    metric's Euclidean space (see :class:`RotationBound`); ``width`` references per tile. None
    means the bound did not prune and brute force is cheaper.
    """
    cosine = bound.cosine
    side = bound.reference_side
    block = bound.query_side(queries)
    lhs = block.side
    n_query, n_ref = len(queries), len(side)
    tile_memory = np.empty(n_query * width, dtype=np.float32)

    def tiles():  # type: ignore[no-untyped-def]
        """(first reference, score tile) for each tile of the bound's product."""
        for first in range(0, n_ref, width):
            refs = side[first : first + width]
            tile = tile_memory[: n_query * len(refs)].reshape(n_query, len(refs))
            np.matmul(lhs, refs.T, out=tile)
            yield first, tile

    n_first = min(n_ref, max(FIRST_CANDIDATES, n_candidates))
    # Step 1: the references nearest in the head's coordinates, within the nearest cells.
    _, first_candidates = bound.cells.search_block(lhs[:, : bound.head], n_first, SEED_PROBES)
    dist = np.empty((n_query, n_candidates), dtype=np.float64)
    where = np.empty((n_query, n_candidates), dtype=np.int64)
    _start_lists(queries, points, first_candidates, dist, where, cosine)
    passed = 0  # (query, reference) pairs the product's bound let through
    for first, tile in tiles():
        budget = int(GIVE_UP * n_query * (first + tile.shape[1])) + n_first * n_query
        passed += _visit_survivors(
            tile, first, queries, points, block, bound, k, dist, where, budget - passed
        )
        if passed > budget:
            return None
    return where


@numba.njit(nogil=True, fastmath=True, cache=True)
def exact_distance(query: np.ndarray, ref: np.ndarray, cosine: bool) -> float:  # pragma: no cover
    """Squared Euclidean distance, or cosine distance of unit rows, summed in float64 (brute
    force's re-rank sums its Euclidean distances with this too)."""
    total = 0.0
    if cosine:
        for t in range(len(query)):
            total += np.float64(query[t]) * np.float64(ref[t])
        return max(1.0 - total, 0.0)
    for t in range(len(query)):
        diff = np.float64(query[t] - ref[t])
        total += diff * diff
    return total


@numba.njit(nogil=True, cache=True)
def _insert(dist: np.ndarray, where: np.ndarray, value: float, index: int) -> None:
    """Insert into an ascending list, dropping its last entry (the caller checked it's worse)."""
    t = len(dist) - 1
    while t > 0 and dist[t - 1] > value:
        dist[t], where[t] = dist[t - 1], where[t - 1]
        t -= 1
    dist[t], where[t] = value, index


@numba.njit(nogil=True, cache=True)
def _start_lists(
    queries: np.ndarray,
    points: np.ndarray,
    first: np.ndarray,
    dist: np.ndarray,
    where: np.ndarray,
    cosine: bool,
) -> None:  # pragma: no cover - compiled
    """Step 1's exact distances: each row's ascending list of its best first candidates."""
    for i in range(len(queries)):
        dist[i, :] = np.inf
        where[i, :] = -1
        for c in range(first.shape[1]):
            if first[i, c] < 0:  # fewer references in the probed cells
                continue
            value = exact_distance(queries[i], points[first[i, c]], cosine)
            if value < dist[i, -1]:
                _insert(dist[i], where[i], value, first[i, c])


def _visit_survivors(
    tile: np.ndarray,
    offset: int,
    queries: np.ndarray,
    points: np.ndarray,
    block: Queries,
    bound: RotationBound,
    k: int,
    dist: np.ndarray,
    where: np.ndarray,
    budget: int,
) -> int:
    """Step 2 for one tile of scores; returns how many pairs passed the product's bound.

    Stops early once more than ``budget`` pairs have passed: the bound is not pruning.
    """
    return _visit_kernel(
        tile,
        offset,
        queries,
        points,
        block.steps,
        block.sq_norms,
        block.slacks,
        bound.reference_steps,
        bound.head,
        k,
        dist,
        where,
        bound.cosine,
        budget,
    )


@numba.njit(nogil=True, fastmath=True, cache=True)
def _partial(q: np.ndarray, r: np.ndarray, start: int, stop: int) -> float:  # pragma: no cover
    """Σ (q_t − r_t)² over t in [start, stop), in float64."""
    total = 0.0
    for t in range(start, stop):
        diff = np.float64(q[t]) - np.float64(r[t])
        total += diff * diff
    return total


@numba.njit(nogil=True, cache=True)
def _visit_kernel(
    tile: np.ndarray,
    offset: int,
    queries: np.ndarray,
    points: np.ndarray,
    q_steps: np.ndarray,
    sq_norms: np.ndarray,
    slacks: np.ndarray,
    r_steps: np.ndarray,
    head: int,
    k: int,
    dist: np.ndarray,
    where: np.ndarray,
    cosine: bool,
    budget: int,
) -> int:  # pragma: no cover - compiled
    """Exact distances where the bounds allow, for one tile of scores; returns the pairs that
    passed the product's bound, stopping once they exceed ``budget``.

    The scores that pass the product's bound are marked as in
    :func:`.select.merge_top_candidates` (almost none pass). Each reference they point to is
    checked again, level by level, with more of its rotated coordinates (float64 sums), and only
    then measured in full; one already in the row's list is not measured twice. (Visiting the
    pairs in reference order instead, for a forward stream of reads, measured 10 % slower.)
    """
    n_rows, width = tile.shape
    n_levels = (r_steps.shape[1] - 1) // (head + 1)
    first_level = n_levels + 1  # column where the levels' coordinates start
    mask = mask_for(width)
    words = mask.view(np.uint64)
    passed = 0
    for i in range(n_rows):
        row, kept, index = tile[i], dist[i], where[i]
        limit = _limit(kept[k - 1], slacks[i], cosine)
        threshold = np.float32(0.5 * (sq_norms[i] - limit))  # below it, bound > limit
        mark_at_least(row, threshold, mask)
        for word in range(len(words)):
            if words[word] == 0:
                continue
            for j in range(8 * word, 8 * word + 8):
                if mask[j] == 0 or row[j] < threshold:
                    continue
                reference = offset + j
                passed += 1
                if passed > budget:
                    return passed
                q, r = q_steps[i], r_steps[reference]
                # The head's squared distance, from the score (its float32 error is in the slack).
                gap = np.float64(q[0]) - np.float64(r[0])
                partial = max(sq_norms[i] - 2.0 * np.float64(row[j]) - gap * gap, 0.0)
                ruled_out = False
                for level in range(n_levels):
                    start = first_level + level * head
                    partial += _partial(q, r, start, start + head)
                    gap = np.float64(q[level + 1]) - np.float64(r[level + 1])
                    ruled_out = partial + gap * gap > limit
                    if ruled_out:
                        break
                if ruled_out:
                    continue
                seen = False
                for t in range(len(index)):
                    seen |= index[t] == reference
                if seen:
                    continue
                value = exact_distance(queries[i], points[reference], cosine)
                if value < kept[-1]:
                    _insert(kept, index, value, reference)
                    limit = _limit(kept[k - 1], slacks[i], cosine)
                    threshold = np.float32(0.5 * (sq_norms[i] - limit))
    return passed


@numba.njit(nogil=True, cache=True)
def _limit(tau: float, slack: float, cosine: bool) -> float:  # pragma: no cover - compiled
    """The squared Euclidean bound beyond which a reference can't beat τ (slack included)."""
    return (2.0 * tau if cosine else tau) + slack
