"""Exact brute-force k-nearest-neighbour search: every reference scored, none missed.

How it stays fast and bounded (the raw-pixel product is the physical limit):

* The queries × references score matrix is never built. Each worker thread takes a block of
  queries and walks the references in tiles of 2,048: one single-threaded BLAS product fills a
  tile small enough to stay in cache, and a compiled pass folds it into the block's running
  top candidates at once. Scores never travel to main memory and back, which is what made
  a separate product-then-select twice as slow once PCA makes the product cheap.
* Euclidean and cosine scores are BLAS products. For Euclidean the reference norms ride along
  as an extra column: ``[q, 1] · [r, -½‖r‖²] = q·r − ½‖r‖²``, which is largest for the nearest
  ``r``, so no separate pass adds norms. Manhattan and Minkowski have no product form: a small
  compiled (numba) kernel fills their tiles instead.
* Top-k selection keeps the best few candidates per query behind a threshold; after the first
  few hundred references almost nothing beats it, so it costs little more than reading the tile.
* The few surviving candidates are re-ranked with exact float64 differences, so the returned
  distances are exact, not ‖a‖² + ‖b‖² − 2a·b rounding noise.

Below the brute-force limit: :mod:`.pruned` skips most references for Euclidean and cosine
search on high-dimensional data, and falls back to this path where its bound does not prune.
"""

from __future__ import annotations

from typing import Any, Literal

import numba
import numpy as np

from . import pruned, screened
from .checks import as_float_matrix, check_k, normalise_metric
from .parallel import cpu_count, run_blocks
from .select import merge_top_candidates

Metric = Literal["euclidean", "manhattan", "cosine", "minkowski"]
Algorithm = Literal["auto", "brute", "pruned", "screened"]
ALGORITHMS = ("auto", "brute", "pruned", "screened")
# "auto" screens Euclidean data of screened.MIN_FEATURES to this many features, with at least
# SCREEN_MIN_REFERENCES references and at most SCREEN_MAX_CANDIDATES candidates a query: what
# it was measured on, the first stage of the fast preset (PCA-30, 20 + 8 candidates, 60,000
# references). accurate's PCA-50 with 1,008 candidates stays with brute force.
SCREEN_MAX_FEATURES = 32
SCREEN_MIN_REFERENCES = 8192
SCREEN_MAX_CANDIDATES = 64

DEFAULT_MEMORY_BUDGET_MB = 16  # all score tiles in flight: cache-sized, not memory-sized
_TILE_REFERENCES = 2048  # references per score tile
_EXTRA_CANDIDATES = 8  # re-ranked beyond k, so float32 rounding cannot drop a true neighbour
_LP_QUERY_BLOCK = 32  # queries sharing one pass over the references in the Lp kernel


class NeighborIndex:
    """A reference set prepared for repeated exact k-NN queries under one metric.

    Parameters
    ----------
    reference : array of shape (n_ref, n_features), any real dtype.
    metric : "euclidean", "manhattan", "cosine" or "minkowski" (with ``p``).
    p : the Minkowski exponent (p=1 is Manhattan, p=2 Euclidean).
    memory_budget_mb : MiB of score tiles in flight (all threads); results do not depend on it.
    algorithm : "brute" scores every reference; "pruned" (Euclidean and cosine only) skips
        those a lower bound rules out (:mod:`.pruned`), falling back to brute force where the
        bound does not prune; "screened" (Euclidean, at least ``screened.MIN_FEATURES``
        features) does the same for few features in one compiled kernel (:mod:`.screened`);
        "auto" prunes where it pays: Euclidean or cosine, at least ``pruned.MIN_FEATURES``
        features (at most ``MAX_FEATURES``) and 1,024 references, and screens Euclidean data
        of ``screened.MIN_FEATURES`` to ``SCREEN_MAX_FEATURES`` features with at least
        ``SCREEN_MIN_REFERENCES`` references when a query asks for few candidates.
        Results are the same either way.
    """

    def __init__(
        self,
        reference: Any,
        metric: Metric = "euclidean",
        *,
        p: float = 2,
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        algorithm: Algorithm = "auto",
    ) -> None:
        self.metric, self.p = normalise_metric(metric, p)
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be positive, got {memory_budget_mb}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
        if algorithm == "pruned" and self.metric not in ("euclidean", "cosine"):
            raise ValueError(
                f"algorithm='pruned' needs the euclidean or cosine metric, got {self.metric!r}; "
                "use algorithm='brute' (or 'auto')"
            )
        if algorithm == "screened" and self.metric != "euclidean":
            raise ValueError(
                f"algorithm='screened' needs the euclidean metric, got {self.metric!r}; "
                "use algorithm='brute' (or 'auto')"
            )
        self.memory_budget_mb = memory_budget_mb
        self.algorithm = algorithm
        self.reference = as_float_matrix(reference, "reference")  # (n_ref, d) float32
        self._prepare()
        self._bound = self._fit_bound()
        self._screen = self._fit_screen()

    def _fit_screen(self) -> screened.ScreenedReferences | None:
        """The screened search's chunks, where the algorithm asks for them and they can work."""
        n_ref, d = self.reference.shape
        if self.metric != "euclidean" or d < screened.MIN_FEATURES:
            return None
        if self.algorithm == "auto" and (
            d > SCREEN_MAX_FEATURES or n_ref < SCREEN_MIN_REFERENCES or self._bound is not None
        ):
            return None
        if self.algorithm not in ("auto", "screened"):
            return None
        return screened.ScreenedReferences(self.reference)

    def _fit_bound(self) -> pruned.RotationBound | None:
        """The pruned search's rotation, where the algorithm asks for it and it can work."""
        n_ref, d = self.reference.shape
        if self.algorithm in ("brute", "screened") or self.metric not in ("euclidean", "cosine"):
            return None
        if d < 2:
            return None
        if self.algorithm == "auto" and not (
            pruned.MIN_FEATURES <= d <= pruned.MAX_FEATURES and n_ref >= 1024
        ):
            return None
        head = min(pruned.HEAD, max(1, d // 4))
        return pruned.RotationBound(self._points(self.reference), head, self.metric == "cosine")

    def _points(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the metric's Euclidean space: themselves, or unit rows for cosine."""
        if self.metric == "cosine":
            return rows / row_norms(rows)[:, None]
        return rows

    def _prepare(self) -> None:
        ref = self.reference
        if self.metric == "euclidean":
            # (n_ref, d + 1): [r, -½‖r‖²], so that [q, 1] · row = q·r − ½‖r‖².
            aug = np.empty((len(ref), ref.shape[1] + 1), dtype=np.float32)
            aug[:, :-1] = ref
            aug[:, -1] = -0.5 * np.einsum("ij,ij->i", ref, ref, dtype=np.float64)
            self._scoring = aug
        elif self.metric == "cosine":
            self._scoring = ref / row_norms(ref)[:, None]
        else:
            self._scoring = ref

    def __len__(self) -> int:
        return len(self.reference)

    @property
    def n_features(self) -> int:
        return int(self.reference.shape[1])

    def add(self, samples: Any) -> None:
        """Append reference samples (no refit: a k-NN model is its data)."""
        new = as_float_matrix(samples, "X", self.n_features)
        self.reference = np.concatenate([self.reference, new])
        self._prepare()
        if self._bound is not None:  # the axes stay: any orthonormal basis keeps the bound
            self._bound.add(self._points(new))
        if self._screen is not None:
            self._screen.add(new)

    def search(self, X: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest references of each row of X, nearest first.

        Returns (distances float64 of shape (n, k), indices int64 of shape (n, k)).
        """
        queries = as_float_matrix(X, "X", self.n_features)
        k = check_k(k, len(self))
        n = len(queries)
        n_candidates = min(len(self), k + _EXTRA_CANDIDATES)
        lhs = self._query_side(queries)
        distances = np.empty((n, k), dtype=np.float64)
        indices = np.empty((n, k), dtype=np.int64)
        workers = min(cpu_count(), n)
        width = min(len(self), _TILE_REFERENCES)
        # Queries per block: as many as the budget allows (BLAS packs each reference tile once
        # per block), then evened out so every worker gets the same number of equal blocks.
        most = max(1, int(self.memory_budget_mb * 2**20 // (4 * width * workers)))
        blocks = workers * -(-n // (workers * most))
        rows = -(-n // blocks)
        prune = [self._bound is not None]  # cleared, for every block, once pruning fails
        screened_candidates = None
        if self._screen is not None and (
            self.algorithm == "screened" or n_candidates <= SCREEN_MAX_CANDIDATES
        ):
            screened_candidates = self._screen.candidates(queries, n_candidates)

        def scan(start: int) -> None:
            """The k nearest of queries start:start+rows."""
            rows_done = slice(start, start + rows)
            candidates = None
            if screened_candidates is not None:
                candidates = screened_candidates[rows_done]
            elif prune[0] and self._bound is not None:
                points = self._points(queries[rows_done])
                candidates = pruned.search_block(
                    self._bound, self._scoring_points, points, k, n_candidates, width
                )
                if candidates is None:
                    prune[0] = False
            if candidates is None:
                candidates = self._brute_candidates(lhs[rows_done], n_candidates, width)
            distances[rows_done], indices[rows_done] = self._exact_rerank(
                queries[rows_done], candidates, k
            )

        run_blocks(scan, range(0, n, rows), workers)
        return distances, indices

    @property
    def _scoring_points(self) -> np.ndarray:
        """The references as :meth:`_points` gives them, without a copy."""
        return self._scoring if self.metric == "cosine" else self.reference

    def _brute_candidates(self, block: np.ndarray, n_candidates: int, width: int) -> np.ndarray:
        """Each query's n_candidates best scores, tile by tile through all the references."""
        best = np.full((len(block), n_candidates), -np.inf, dtype=np.float32)
        candidates = np.zeros((len(block), n_candidates), dtype=np.int64)
        tile_memory = np.empty(len(block) * width, dtype=np.float32)
        for first in range(0, len(self), width):
            refs = self._scoring[first : first + width]
            tile = tile_memory[: len(block) * len(refs)].reshape(len(block), len(refs))
            self._score(block, refs, tile)  # larger = nearer
            merge_top_candidates(tile, first, best, candidates)
        return candidates

    def _query_side(self, queries: np.ndarray) -> np.ndarray:
        """The queries as the left factor of the score product (see :meth:`_score`)."""
        if self.metric == "euclidean":
            lhs = np.empty((len(queries), queries.shape[1] + 1), dtype=np.float32)
            lhs[:, :-1] = queries
            lhs[:, -1] = 1.0
            return lhs
        if self.metric == "cosine":
            return queries / row_norms(queries)[:, None]
        return queries

    def _score(self, block: np.ndarray, refs: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` with a similarity whose order is the distance order, reversed."""
        if self.metric in ("euclidean", "cosine"):
            np.matmul(block, refs.T, out=out)
        else:
            _negative_lp_scores(block, refs, np.float32(self.p), out)

    def _exact_rerank(
        self, chunk: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact float64 distances to the candidates; keep the k nearest (ties: lower index)."""
        exact = self._exact_distances(chunk, candidates)  # (chunk, n_candidates)
        order = np.lexsort((candidates, exact), axis=-1)[:, :k]
        return (
            np.take_along_axis(exact, order, axis=1),
            np.take_along_axis(candidates, order, axis=1),
        )

    def _exact_distances(self, chunk: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Distances from each query to its candidates, summed in float64.

        Differences are taken in float32, which is exact for integer pixels (uint8 input).
        Euclidean distances come from a compiled loop that reads each candidate in place
        (gathering them into a (chunk, m, d) copy first cost a tenth of a pruned search).
        """
        if self.metric == "euclidean":
            squared = np.empty(candidates.shape, dtype=np.float64)
            _squared_distances(chunk, self.reference, candidates, squared)
            return np.sqrt(squared)
        refs = self.reference[candidates]  # (chunk, m, d) float32, a fresh copy
        if self.metric == "cosine":
            q = (chunk / row_norms(chunk)[:, None]).astype(np.float64)
            r = refs / row_norms(self.reference)[candidates][..., None]
            return np.maximum(1.0 - np.einsum("ij,imj->im", q, r.astype(np.float64)), 0.0)
        refs -= chunk[:, None, :]
        np.abs(refs, out=refs)
        if self.p == 1:
            return refs.sum(axis=2, dtype=np.float64)
        return np.power(refs, self.p, dtype=np.float64).sum(axis=2) ** (1.0 / self.p)


def row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean row norms, with 1 for all-zero rows (their cosine distance is then 1)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)).astype(X.dtype)
    norms[norms == 0] = 1
    return norms


@numba.njit(nogil=True, fastmath=True, cache=True)
def _squared_distances(
    queries: np.ndarray, reference: np.ndarray, candidates: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """out[i, c] = ‖queries[i] − reference[candidates[i, c]]‖², float32 differences summed in
    float64 (vectorised, in the same order for every pair: equal pairs give equal distances)."""
    for i in range(candidates.shape[0]):
        for c in range(candidates.shape[1]):
            out[i, c] = pruned.exact_distance(queries[i], reference[candidates[i, c]], False)


@numba.njit(nogil=True, fastmath=True, cache=True)
def _negative_lp_scores(
    queries: np.ndarray, refs: np.ndarray, p: np.float32, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """out[i, j] = -Σ|q_i − r_j|^p for the Lp metrics, which have no BLAS form.

    Queries go in blocks of 32 that share each reference row while it is in cache (streaming
    all references once per query would make this memory-bound). Single-threaded: the caller's
    workers run it side by side, without the GIL.
    """
    n_queries, n_features = queries.shape
    n_blocks = (n_queries + _LP_QUERY_BLOCK - 1) // _LP_QUERY_BLOCK
    for block in range(n_blocks):
        first = block * _LP_QUERY_BLOCK
        last = min(first + _LP_QUERY_BLOCK, n_queries)
        for j in range(refs.shape[0]):
            ref = refs[j]
            for i in range(first, last):
                query = queries[i]
                total = np.float32(0)
                if p == 1:
                    for t in range(n_features):
                        total += abs(query[t] - ref[t])
                elif p == 3:
                    for t in range(n_features):
                        x = abs(query[t] - ref[t])
                        total += x * x * x
                else:
                    for t in range(n_features):
                        total += abs(query[t] - ref[t]) ** p
                out[i, j] = -total


def search_kneighbors(
    X: Any,
    reference: Any,
    k: int,
    *,
    metric: Metric = "euclidean",
    p: float = 2,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    algorithm: Algorithm = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """One-off exact k-NN search: (distances (n, k) float64, indices (n, k) int64)."""
    index = NeighborIndex(
        reference, metric, p=p, memory_budget_mb=memory_budget_mb, algorithm=algorithm
    )
    return index.search(X, k)
