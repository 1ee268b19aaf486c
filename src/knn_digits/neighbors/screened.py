"""Exact k-NN on few features: most pairs screened out by a head bound, in one kernel.

A first stage on few features (``fast``'s PCA-30) is bound by writing and reading its scores,
not by its flops: a BLAS product of 31 columns fills a tile that a second pass reads back to
select each query's best. Here one compiled kernel does both, and for most pairs less than
the product. With the data centred and on its principal axes (which keeps every distance),
split each point into its first ``HEAD`` coordinates and the rest; then

    s(q, r) = q·r − ½‖r‖² ≤ q_h·r_h + ‖q_t‖‖r_t‖ − ½‖r‖² =: b(q, r)

(Cauchy–Schwarz on the tail), and the larger s, the nearer r. The bound is a product of
``HEAD + 2`` columns, ``[q_h, ‖q_t‖, 1] · [r_h, ‖r_t‖, −½‖r‖²]``. The references are cut
into chunks of 512, stored column by column, and a pair of queries is bounded against a chunk
in one vector loop (each column loaded once for both, two independent sums in flight), marking
the references whose bound reaches the query's running m-th best score τ. Only those (about 1
in 100 on MNIST's PCA-30, with 10 head axes) are scored in full, from a row of all d
coordinates. τ starts tight: the queries are grouped by the nearest of a few dozen random
centres (cells of ~768 references), and each group first scores its own cell's references in
full. A group of 64 queries shares each chunk while it is in cache.

Rounding: the bound is computed in float32, so a reference is ruled out only when its bound
is below τ by more than a slack of ``SLACK``·(‖q‖² + max‖r‖²) (centred), far beyond float32's
error on either score; the slack costs a few extra scores, never a neighbour. The m kept go
to :class:`.brute.NeighborIndex`'s exact float64 re-rank, as brute force's candidates do: the
same neighbours and distances (up to exact distance ties).

Where the bound does not prune (noise, where no few axes hold the variance), more than
``GIVE_UP`` of the pairs are marked; the search stops and brute force runs instead.
"""

from __future__ import annotations

import numba
import numpy as np

from .parallel import cpu_count, run_blocks, single_threaded_blas
from .pruned import principal_axes
from .select import replace_weakest

# Head axes in the bound (the kernel is compiled for this many): on fast's PCA-30, 8 left
# ~1,000 of 50,000 references a query to score in full, 10 ~520, 12 ~300, but with 12 the
# pair of queries' sums no longer fit the vector registers and the bound cost twice as much.
HEAD = 10
MIN_FEATURES = HEAD + 4  # with fewer, the bound saves too little of the full score
GIVE_UP = 1 / 16  # share of pairs marked beyond which brute force is cheaper
SLACK = 1e-4  # relative to ‖q‖² + max‖r‖²: ten times float32's worst error on a score
_WIDTH = HEAD + 2  # columns of the bound's product: [q_h, ‖q_t‖, 1]
_CHUNK = 512  # references bounded together (256: ~5 % slower; 1,024: no faster)
_ROW_BLOCK = 16  # a full row's length is padded to a multiple of this (one vector)
_CELL_SIZE = 768  # references per cell: the own cell gives a τ near the final one
_MAX_CELLS = 128
_GROUP = 64  # queries that share each chunk while it is in cache
# Fused multiply-adds, and (for a dot product along a row) reordered sums: not fastmath's
# "no infinities", since padding and empty heaps hold −inf.
_FMA = {"contract"}
_FMA_REORDERED = {"contract", "reassoc"}


class ScreenedReferences:
    """References centred, on their principal axes and cut into chunks for the kernel.

    Parameters
    ----------
    reference : array of shape (n_ref, d) float32, ``d >= MIN_FEATURES``.
    seed : picks the random cell centres (results never depend on it).

    ``head`` (n_chunks, HEAD + 2, 512) holds each chunk's bound columns, one row per
    column, so that the kernel's loop over references is a vector loop; ``rows``
    (n_slots, d + 1, padded) each reference's ``[r, −½‖r‖²]`` for its full score. References
    are stored cell by cell; ``order`` maps a slot back to its index.
    """

    def __init__(self, reference: np.ndarray, *, seed: int = 0) -> None:
        with single_threaded_blas():  # see pruned.RotationBound: threaded LAPACK spins
            self.mean, self.axes = principal_axes(reference, reference.shape[1])  # all d
        n_cells = max(1, min(_MAX_CELLS, len(reference) // _CELL_SIZE))
        picks = np.random.default_rng(seed).choice(len(reference), n_cells, replace=False)
        self.centres = self.rotate(reference[np.sort(picks)])  # (n_cells, d) float32
        self.points = np.empty((0, reference.shape[1]), np.float32)
        self.cells = np.empty(0, np.int64)
        self.add(reference)

    def rotate(self, points: np.ndarray) -> np.ndarray:
        """Points (n, d) centred and on the principal axes, float32 (distances unchanged)."""
        return ((points.astype(np.float64) - self.mean) @ self.axes).astype(np.float32)

    def nearest_cells(self, rotated: np.ndarray) -> np.ndarray:
        """Each rotated point's nearest centre, (n,) int64."""
        centres = self.centres
        with single_threaded_blas():  # a thin product just before a search
            scores = rotated @ centres.T - 0.5 * np.einsum("ij,ij->i", centres, centres)
        return np.argmax(scores, axis=1)

    def add(self, reference: np.ndarray) -> None:
        """Append references to their nearest cells (axes and centres stay) and re-lay out."""
        rotated = self.rotate(reference)
        self.points = np.concatenate([self.points, rotated])
        self.cells = np.concatenate([self.cells, self.nearest_cells(rotated)])
        n_ref, d = self.points.shape
        order = np.argsort(self.cells, kind="stable")
        first = np.searchsorted(self.cells[order], np.arange(len(self.centres)))
        stop = np.searchsorted(self.cells[order], np.arange(len(self.centres)), side="right")
        # Each cell's slots: its queries score them first, in full.
        self.cell_slots = np.stack([first, stop], axis=1)
        n_chunks = -(-n_ref // _CHUNK)
        slots = n_chunks * _CHUNK
        self.order = np.full(slots, n_ref, np.int64)  # padding slots: index n_ref, never kept
        self.order[:n_ref] = order
        points = self.points[order].astype(np.float64)
        sq_norms = np.einsum("ij,ij->i", points, points)
        self.max_sq_norm = float(sq_norms.max())
        head = np.zeros((_WIDTH, slots), np.float32)
        head[:HEAD, :n_ref] = points[:, :HEAD].T
        head[HEAD, :n_ref] = np.sqrt(np.maximum(sq_norms - (points[:, :HEAD] ** 2).sum(1), 0))
        head[HEAD + 1] = -np.inf  # padding: a bound of −inf is never marked
        head[HEAD + 1, :n_ref] = -0.5 * sq_norms
        self.head = np.ascontiguousarray(head.reshape(_WIDTH, n_chunks, _CHUNK).transpose(1, 0, 2))
        self.rows = np.zeros((slots, _row_length(d)), np.float32)  # [r, 0…, −½‖r‖²]
        self.rows[:n_ref, :d] = points
        self.rows[:, -1] = -np.inf
        self.rows[:n_ref, -1] = -0.5 * sq_norms

    def candidates(self, queries: np.ndarray, m: int) -> np.ndarray | None:
        """Each query's m best references by score, (n, m) int64, in no particular order; or
        None where the bound does not prune (brute force is cheaper then)."""
        rotated = self.rotate(queries)  # (n, d)
        n, d = rotated.shape
        full = np.zeros((n, _row_length(d)), np.float32)  # [q, 0…, 1]: full · row = s(q, r)
        full[:, :d] = rotated
        full[:, -1] = 1
        side = np.empty((n, _WIDTH), np.float32)  # [q_h, ‖q_t‖, 1]: side · head = b(q, r)
        side[:, :HEAD] = rotated[:, :HEAD]
        sq_norms = np.einsum("ij,ij->i", rotated, rotated, dtype=np.float64)
        head_sq = np.einsum("ij,ij->i", rotated[:, :HEAD], rotated[:, :HEAD], dtype=np.float64)
        side[:, HEAD] = np.sqrt(np.maximum(sq_norms - head_sq, 0))
        side[:, HEAD + 1] = 1
        slacks = (SLACK * (sq_norms + self.max_sq_norm)).astype(np.float32)
        cells = self.nearest_cells(rotated)
        by_cell = np.argsort(cells, kind="stable")
        groups = [
            (cell, _even(rows[start : start + _GROUP]))
            for cell in np.unique(cells)
            for rows in [by_cell[cells[by_cell] == cell]]
            for start in range(0, len(rows), _GROUP)
        ]
        kept = np.full((n, m), -np.inf, np.float32)
        index = np.full((n, m), len(self.points), np.int64)
        marked = [0, 0]  # pairs marked, pairs bounded: for the give-up rule, so a rare lost
        # update when both threads add at once does not matter
        gave_up = [False]

        def scan(number: int) -> None:
            if gave_up[0]:
                return
            cell, rows = groups[number]
            best, where = kept[rows], index[rows]
            first, stop = self.cell_slots[cell]
            marked[0] += _search_group(
                side[rows], full[rows], slacks[rows], self.head, self.rows, self.order,
                first, stop, best, where,
            )  # fmt: skip
            kept[rows], index[rows] = best, where
            marked[1] += len(rows) * len(self.order)
            if marked[0] > GIVE_UP * marked[1]:
                gave_up[0] = True

        run_blocks(scan, range(len(groups)), min(cpu_count(), len(groups)))
        # A sentinel left in a heap: scores that overflowed float32 (norms past ~1e19).
        return None if gave_up[0] or (index == len(self.points)).any() else index


def _even(rows: np.ndarray) -> np.ndarray:
    """Rows with the last repeated if their number is odd: the kernel takes queries in pairs
    (the repeat computes the same heap twice, and writes it back once)."""
    return rows if len(rows) % 2 == 0 else np.append(rows, rows[-1])


def _row_length(d: int) -> int:
    """A full row's floats: d coordinates and −½‖r‖², zero-padded to whole vectors."""
    return -(-(d + 1) // _ROW_BLOCK) * _ROW_BLOCK


@numba.njit(nogil=True, fastmath=_FMA, cache=True)
def _mark_pair(pair, head, tau, tau2, marks):  # type: ignore[no-untyped-def]  # pragma: no cover
    """marks[j] = b(pair[0], r_j) >= tau, marks[512 + j] = b(pair[1], r_j) >= tau2, for the
    chunk's 512 references: one vector loop, each column loaded once for both queries (two
    independent sums hide the multiply-add latency: 2.3× one query at a time, measured; more
    queries or columns at once spill registers and run slower)."""
    for j in range(_CHUNK):
        column = head[0, j]
        s = pair[0, 0] * column
        t = pair[1, 0] * column
        for c in range(1, _WIDTH):
            column = head[c, j]
            s += pair[0, c] * column
            t += pair[1, c] * column
        marks[j] = s >= tau
        marks[_CHUNK + j] = t >= tau2


@numba.njit(nogil=True, fastmath=_FMA_REORDERED, cache=True)
def _score(full, row):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """s(q, r) = [q, 1] · [r, −½‖r‖²], one vectorised dot product along the row."""
    s = np.float32(0)
    for c in range(len(full)):
        s += full[c] * row[c]
    return s


@numba.njit(nogil=True, cache=True)
def _offer(kept, index, score, reference):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Keep (score, reference) if it beats the weakest of the min-heap ``kept``: a higher
    score, or an equal one with a lower index."""
    if score > kept[0] or (score == kept[0] and reference < index[0]):
        replace_weakest(kept, index, score, reference)


@numba.njit(nogil=True, cache=True)
def _positions(marks, words, positions):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The places of the nonzero ``marks`` (``words``: the same bytes, 8 at a time), in
    order, into ``positions``; returns how many. Branches only on words, not on marks."""
    found = 0
    for w in range(len(words)):
        if words[w] == 0:
            continue
        for position in range(8 * w, 8 * w + 8):
            positions[found] = position
            found += marks[position]
    return found


@numba.njit(nogil=True, cache=True)
def _search_group(  # type: ignore[no-untyped-def]
    side, full, slacks, head, rows, order, first, stop, kept, index
):  # pragma: no cover - compiled
    """Fold every reference into a group of queries' heaps (``kept`` scores, ``index``).

    The group's own cell (slots ``first:stop``) first, every reference scored, which makes τ
    tight early; then chunk by chunk, the queries in pairs through :func:`_mark_pair`, and
    only the marked references (outside the own cell) scored and offered. Returns how many
    pairs were marked.
    """
    marks = np.zeros(2 * _CHUNK, np.uint8)
    words = marks.view(np.uint64)
    positions = np.empty(2 * _CHUNK, np.int64)
    for q in range(len(side)):
        best, where = kept[q], index[q]
        for j in range(first, stop):
            _offer(best, where, _score(full[q], rows[j]), order[j])
    marked = 0
    for chunk in range(head.shape[0]):
        base = chunk * _CHUNK
        # The own cell's slots in this chunk, already offered: not again.
        skip_from, skip_to = max(first - base, 0), min(stop - base, _CHUNK)
        for i in range(0, len(side), 2):
            # A score can round above its bound: rule out only what is below τ by the slack.
            tau, tau2 = kept[i, 0] - slacks[i], kept[i + 1, 0] - slacks[i + 1]
            _mark_pair(side[i : i + 2], head[chunk], tau, tau2, marks)
            for j in range(skip_from, skip_to):
                marks[j] = 0
                marks[_CHUNK + j] = 0
            found = _positions(marks, words, positions)
            marked += found
            for e in range(found):
                q = i + positions[e] // _CHUNK  # which query of the pair
                j = base + positions[e] % _CHUNK
                _offer(kept[q], index[q], _score(full[q], rows[j]), order[j])
    return marked
