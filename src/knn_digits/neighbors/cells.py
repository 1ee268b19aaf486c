"""Approximate candidates for a second stage: search only the k-means cells nearest a query.

A second stage (tangent distance in the ``fast`` preset) re-ranks a first stage's nearest
candidates, so the first stage need not be exact: it must only keep the digits the second
stage would pick. The references are split into k-means cells, stored cell by cell; a query
scores the cells' centres (a small product), then measures only the references of its
``n_probe`` nearest cells. With 256 cells and 16 probes that is ~6 % of the references.

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

_KMEANS_ITERATIONS = 12  # Lloyd steps; the cells only need to be compact, not optimal
_KMEANS_SAMPLE = 20_000  # references the centres are fitted on
_CHUNK = 4096  # rows per product when assigning or scoring centres


class CellIndex:
    """References grouped by k-means cell, for approximate nearest-candidate search.

    Parameters
    ----------
    reference : array (n_ref, d), any real dtype.
    n_cells : k-means cells (at most n_ref).
    seed : the k-means initialisation's random seed (results are deterministic).
    """

    def __init__(self, reference: object, n_cells: int, *, seed: int = 0) -> None:
        ref = as_float_matrix(reference, "reference")
        if not 1 <= n_cells <= len(ref):
            raise ValueError(f"n_cells must be in [1, {len(ref)}], got {n_cells}")
        self.centres = _kmeans(ref, n_cells, seed)  # (n_cells, d) float32
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
        n_probe = min(max(1, int(n_probe)), len(self.centres))
        cells = self._nearest_cells(queries, n_probe)
        sq_dist = np.full((len(queries), k), np.inf, np.float32)
        where = np.full((len(queries), k), -1, np.int64)
        _probe_kernel(queries, self._sorted, self._starts, cells, sq_dist, where)
        found = where >= 0
        return np.sqrt(sq_dist.astype(np.float64)), np.where(found, self._order[where], -1)


def _kmeans(X: np.ndarray, n_cells: int, seed: int) -> np.ndarray:
    """Lloyd's k-means on a sample of X; empty cells are re-seeded from random rows."""
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), min(len(X), max(_KMEANS_SAMPLE, n_cells)), replace=False)]
    centres = sample[rng.choice(len(sample), n_cells, replace=False)].copy()
    for _ in range(_KMEANS_ITERATIONS):
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


@numba.njit(parallel=True, fastmath=True, cache=True)
def _probe_kernel(
    queries: np.ndarray,
    refs: np.ndarray,
    starts: np.ndarray,
    cells: np.ndarray,
    sq_dist: np.ndarray,
    where: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Each query's k nearest (squared distance, sorted position) over its probed cells."""
    n_features = queries.shape[1]
    k = sq_dist.shape[1]
    for i in numba.prange(len(queries)):
        q, kept, index = queries[i], sq_dist[i], where[i]
        for cell in cells[i]:
            for r in range(starts[cell], starts[cell + 1]):
                ref = refs[r]
                total = np.float32(0)
                for t in range(n_features):
                    diff = q[t] - ref[t]
                    total += diff * diff
                if total < kept[k - 1]:
                    slot = k - 1
                    while slot > 0 and kept[slot - 1] > total:
                        kept[slot], index[slot] = kept[slot - 1], index[slot - 1]
                        slot -= 1
                    kept[slot], index[slot] = total, r
