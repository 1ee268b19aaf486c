"""Approximate candidates for a second stage: search only the k-means cells nearest a query.

A second stage (tangent distance in the ``fast`` preset) re-ranks a first stage's nearest
candidates, so the first stage need not be exact: it must only keep the digits the second
stage would pick. The references are split into k-means cells, stored cell by cell; a query
scores the cells' centres (a small product), then measures only the references of its
``n_probe`` nearest cells. With 512 cells and 32 probes that is ~6 % of the references.
A block of queries is searched cell by cell: the queries probing a cell share one BLAS
product with its references (scores ``q·r − ½‖r‖²``, as in :mod:`.brute`), folded into each
query's running best; the few kept are measured exactly at the end (1.4–2.7× faster than one
query at a time in a compiled loop, on MNIST's PCA-30).

It is the inverted-file index of faiss's ``IndexIVFFlat``, from scratch, and deliberately
approximate: which cells and probes a preset uses is chosen on validation, by the error of the
whole pipeline (``benchmarks/tune.py``). With ``n_probe >= n_cells`` the search is exact.

>>> rng = np.random.default_rng(0); X = rng.normal(size=(500, 4)).astype(np.float32)
>>> index = CellIndex(X, n_cells=8)
>>> index.search(X[:2], 1, n_probe=8)[1].ravel().tolist()
[0, 1]
"""

from __future__ import annotations

import numba
import numpy as np

from .checks import as_float_matrix, check_k
from .parallel import cpu_count, run_blocks, single_threaded_blas

_KMEANS_ITERATIONS = 12  # Lloyd steps; the cells only need to be compact, not optimal
_KMEANS_SAMPLE = 20_000  # references the centres are fitted on
_CHUNK = 4096  # rows per product when assigning or scoring centres
_QUERY_BLOCK = 1024  # queries searched together: each cell's product is shared by ~n/16
_EXTRA_CANDIDATES = 8  # kept beyond k by float32 scores, so rounding can't drop a true neighbour


class CellIndex:
    """References grouped by k-means cell, for approximate nearest-candidate search.

    Parameters
    ----------
    reference : array (n_ref, d), any real dtype.
    n_cells : k-means cells (at most n_ref).
    seed : the k-means initialisation's random seed (results are deterministic).
    iterations : Lloyd steps; 0 leaves the centres at random references, whose cells are
        rougher but cost nothing to fit (enough for :mod:`.pruned`'s first candidates).
    """

    def __init__(
        self,
        reference: object,
        n_cells: int,
        *,
        seed: int = 0,
        iterations: int = _KMEANS_ITERATIONS,
    ) -> None:
        ref = as_float_matrix(reference, "reference")
        if not 1 <= n_cells <= len(ref):
            raise ValueError(f"n_cells must be in [1, {len(ref)}], got {n_cells}")
        self.centres = _kmeans(ref, n_cells, seed, iterations)  # (n_cells, d) float32
        self.reference = np.empty((0, ref.shape[1]), np.float32)
        self._cell_of = np.empty(0, np.int64)
        self.add(ref)

    def __len__(self) -> int:
        return len(self.reference)

    def add(self, samples: object) -> None:
        """Append references, each to its nearest existing cell (the centres stay)."""
        new = as_float_matrix(samples, "X", self.centres.shape[1])
        self.reference = np.concatenate([self.reference, new])
        self._cell_of = np.concatenate([self._cell_of, self._nearest_cells(new, 1)[:, 0]])
        # Stored cell by cell: each probe reads one contiguous run.
        self._order = np.argsort(self._cell_of, kind="stable")  # (n_ref,) original indices
        self._sorted = np.ascontiguousarray(self.reference[self._order])
        # [r, −½‖r‖²]: a query's product [q, 1] · row is largest for its nearest references.
        half_norms = -0.5 * np.einsum("ij,ij->i", self._sorted, self._sorted)
        self._scoring = np.hstack([self._sorted, half_norms[:, None]]).astype(np.float32)
        counts = np.bincount(self._cell_of, minlength=len(self.centres))
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _nearest_cells(self, X: np.ndarray, n_probe: int) -> np.ndarray:
        """The n_probe nearest centres of each row, (n, n_probe) int64, nearest first."""
        half_norms = 0.5 * np.einsum("ij,ij->i", self.centres, self.centres)
        out = np.empty((len(X), n_probe), np.int64)
        for start in range(0, len(X), _CHUNK):
            scores = X[start : start + _CHUNK] @ self.centres.T - half_norms  # larger = nearer
            if n_probe < scores.shape[1]:
                top = np.argpartition(-scores, n_probe - 1, axis=1)[:, :n_probe]
            else:
                top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            out[start : start + _CHUNK] = np.take_along_axis(top, order, axis=1)
        return out

    def search(self, X: object, k: int, *, n_probe: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest references among each query's n_probe nearest cells, nearest first.

        Returns (Euclidean distances float64 (n, k), indices int64 (n, k)); a query whose
        probed cells hold fewer than k references gets index -1 and distance inf in the rest.
        """
        queries = as_float_matrix(X, "X", self.centres.shape[1])
        k = check_k(k, len(self))
        n = len(queries)
        distances = np.empty((n, k), np.float64)
        indices = np.empty((n, k), np.int64)

        def scan(start: int) -> None:
            rows = slice(start, start + _QUERY_BLOCK)
            distances[rows], indices[rows] = self.search_block(queries[rows], k, n_probe)

        with single_threaded_blas():  # many small products: threads would only spin
            run_blocks(scan, range(0, n, _QUERY_BLOCK), min(cpu_count(), -(-n // _QUERY_BLOCK)))
        return distances, indices

    def search_block(
        self, queries: np.ndarray, k: int, n_probe: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for a block of float32 queries on the calling thread (for callers
        that run their own workers): cell by cell, one BLAS product for all the queries
        probing a cell, then the kept candidates' exact distances."""
        n_probe = min(max(1, int(n_probe)), len(self.centres))
        n = len(queries)
        cells = self._nearest_cells(queries, n_probe)  # (n, n_probe)
        by_cell = np.argsort(cells.ravel(), kind="stable")
        query_of = by_cell // n_probe  # queries, grouped by the cell they probe
        firsts = np.searchsorted(cells.ravel()[by_cell], np.arange(len(self.centres) + 1))
        lhs = np.hstack([queries, np.ones((n, 1), np.float32)])  # [q, 1]
        n_kept = min(k + _EXTRA_CANDIDATES, len(self))
        best = np.full((n, n_kept), -np.inf, np.float32)  # scores q·r − ½‖r‖², larger = nearer
        where = np.full((n, n_kept), -1, np.int64)  # positions in the cell-sorted references
        for cell in range(len(self.centres)):
            lo, hi = self._starts[cell], self._starts[cell + 1]
            probing = query_of[firsts[cell] : firsts[cell + 1]]
            if hi > lo and len(probing):
                scores = lhs[probing] @ self._scoring[lo:hi].T  # (m, refs in the cell)
                _merge_rows(scores, probing, lo, best, where)
        # Exact distances of the kept candidates: the float32 scores only chose them.
        found = where >= 0
        diff = self._sorted[np.maximum(where, 0)] - queries[:, None, :]  # (n, n_kept, d)
        sq_dist = np.einsum("ijk,ijk->ij", diff, diff, dtype=np.float64)
        sq_dist[~found] = np.inf
        order = np.argsort(sq_dist, axis=1, kind="stable")[:, :k]
        where = np.take_along_axis(where, order, axis=1)
        distances = np.sqrt(np.take_along_axis(sq_dist, order, axis=1))
        return distances, np.where(where >= 0, self._order[np.maximum(where, 0)], -1)


def _kmeans(X: np.ndarray, n_cells: int, seed: int, iterations: int) -> np.ndarray:
    """Lloyd's k-means on a sample of X; empty cells are re-seeded from random rows."""
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), min(len(X), max(_KMEANS_SAMPLE, n_cells)), replace=False)]
    centres = sample[rng.choice(len(sample), n_cells, replace=False)].copy()
    for _ in range(iterations):
        half_norms = 0.5 * np.einsum("ij,ij->i", centres, centres)
        cell = np.empty(len(sample), np.int64)
        for start in range(0, len(sample), _CHUNK):
            scores = sample[start : start + _CHUNK] @ centres.T - half_norms
            cell[start : start + _CHUNK] = np.argmax(scores, axis=1)
        counts = np.bincount(cell, minlength=n_cells)
        sums = np.zeros((n_cells, X.shape[1]), np.float64)
        np.add.at(sums, cell, sample)
        empty = counts == 0
        centres[~empty] = (sums[~empty] / counts[~empty, None]).astype(np.float32)
        centres[empty] = sample[rng.choice(len(sample), int(empty.sum()), replace=False)]
    return centres


@numba.njit(nogil=True, cache=True)
def _merge_rows(
    scores: np.ndarray, rows: np.ndarray, offset: int, best: np.ndarray, where: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Fold scores (m, width) into rows ``rows`` of the running best (ascending weakest-last
    lists ``best``/``where``); column j is sorted reference ``offset + j``."""
    m = best.shape[1]
    for i in range(len(rows)):
        kept, index = best[rows[i]], where[rows[i]]
        for j in range(scores.shape[1]):
            score = scores[i, j]
            if score > kept[m - 1]:
                slot = m - 1
                while slot > 0 and kept[slot - 1] < score:
                    kept[slot], index[slot] = kept[slot - 1], index[slot - 1]
                    slot -= 1
                kept[slot], index[slot] = score, offset + j
