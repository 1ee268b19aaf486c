"""Exact k-nearest-neighbour search and the classifier built on it, from scratch in numpy.

How the search stays fast and bounded (the raw-pixel product is the physical limit):

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

Votes: ``weights="uniform"`` counts neighbours, ``"distance"`` weighs them by 1/d, and when a
neighbour matches exactly (d = 0) the exact matches take all the weight. Ties between classes
go to the class of the nearest neighbour among the tied classes — independent of training order
and of label values.

>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0]]); y = np.array([0, 0, 1])
>>> KNNClassifier(n_neighbors=1).fit(X, y).predict([[4.0, 4.0]]).tolist()
[1]
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import scipy.sparse
from threadpoolctl import ThreadpoolController

from ._sklearn import ClassifierBase, not_fitted_error, warn_column_vector
from .errors import ModelError

__all__ = ["KNNClassifier", "NeighborIndex", "search_kneighbors"]

Metric = Literal["euclidean", "manhattan", "cosine", "minkowski"]
METRICS = ("euclidean", "manhattan", "cosine", "minkowski")
WEIGHTS = ("uniform", "distance")

DEFAULT_MEMORY_BUDGET_MB = 16  # all score tiles in flight: cache-sized, not memory-sized
_TILE_REFERENCES = 2048  # references per score tile
_EXTRA_CANDIDATES = 8  # re-ranked beyond k, so float32 rounding cannot drop a true neighbour
_LP_QUERY_BLOCK = 32  # queries sharing one pass over the references in the Lp kernel


def _as_float_matrix(
    X: Any, name: str = "X", n_features: int | None = None, owner: str = "the index"
) -> np.ndarray:
    """Validate a 2-D real array and convert it once to float32 (uint8 can't overflow then).

    An object array of numbers (a DataFrame of mixed columns gives one) is converted; one that
    holds anything else raises NumPy's ``TypeError``. Sparse matrices are refused: k-NN on
    784 dense pixels gains nothing from them. ``owner`` names who expects ``n_features``.
    """
    if scipy.sparse.issparse(X):
        raise TypeError(f"sparse input is not supported; pass {name}.toarray()")
    array = np.asarray(X)
    if array.dtype == object:
        array = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"Complex data not supported: {name} must hold real numbers")
    if not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
        or array.dtype == np.bool_
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        hint = ""
        if array.ndim == 1:  # "Reshape your data" is scikit-learn's wording, which it checks for
            hint = (
                "; Reshape your data: X.reshape(-1, 1) if it is one feature, "
                "X.reshape(1, -1) if one sample"
            )
        elif array.ndim > 2:
            hint = " (flatten images with X.reshape(len(X), -1))"
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}{hint}"
        )
    for axis, what in enumerate(("sample(s)", "feature(s)")):
        if array.shape[axis] == 0:  # scikit-learn's wording
            raise ValueError(
                f"{name} has 0 {what} (shape={array.shape}) while a minimum of 1 is required."
            )
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(
            f"{name} has {array.shape[1]} features, but {owner} is expecting {n_features} "
            "features as input"
        )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")
    return array


class NeighborIndex:
    """A reference set prepared for repeated exact k-NN queries under one metric.

    Parameters
    ----------
    reference : array of shape (n_ref, n_features), any real dtype.
    metric : "euclidean", "manhattan", "cosine" or "minkowski" (with ``p``).
    p : the Minkowski exponent (p=1 is Manhattan, p=2 Euclidean).
    memory_budget_mb : MiB of score tiles in flight (all threads); results do not depend on it.
    """

    def __init__(
        self,
        reference: Any,
        metric: Metric = "euclidean",
        *,
        p: float = 2,
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    ) -> None:
        self.metric, self.p = _normalise_metric(metric, p)
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be positive, got {memory_budget_mb}")
        self.memory_budget_mb = memory_budget_mb
        self.reference = _as_float_matrix(reference, "reference")  # (n_ref, d) float32
        self._prepare()

    def _prepare(self) -> None:
        ref = self.reference
        if self.metric == "euclidean":
            # (n_ref, d + 1): [r, -½‖r‖²], so that [q, 1] · row = q·r − ½‖r‖².
            aug = np.empty((len(ref), ref.shape[1] + 1), dtype=np.float32)
            aug[:, :-1] = ref
            aug[:, -1] = -0.5 * np.einsum("ij,ij->i", ref, ref, dtype=np.float64)
            self._scoring = aug
        elif self.metric == "cosine":
            self._scoring = ref / _row_norms(ref)[:, None]
        else:
            self._scoring = ref

    def __len__(self) -> int:
        return len(self.reference)

    @property
    def n_features(self) -> int:
        return int(self.reference.shape[1])

    def add(self, samples: Any) -> None:
        """Append reference samples (no refit: a k-NN model is its data)."""
        new = _as_float_matrix(samples, "X", self.n_features)
        self.reference = np.concatenate([self.reference, new])
        self._prepare()

    def search(self, X: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest references of each row of X, nearest first.

        Returns (distances float64 of shape (n, k), indices int64 of shape (n, k)).
        """
        queries = _as_float_matrix(X, "X", self.n_features)
        k = _check_k(k, len(self))
        n = len(queries)
        n_candidates = min(len(self), k + _EXTRA_CANDIDATES)
        lhs = self._query_side(queries)
        distances = np.empty((n, k), dtype=np.float64)
        indices = np.empty((n, k), dtype=np.int64)
        workers = min(_cpu_count(), n)
        width = min(len(self), _TILE_REFERENCES)
        # Queries per block: as many as the budget allows (BLAS packs each reference tile once
        # per block), then evened out so every worker gets the same number of equal blocks.
        most = max(1, int(self.memory_budget_mb * 2**20 // (4 * width * workers)))
        blocks = workers * -(-n // (workers * most))
        rows = -(-n // blocks)

        def scan(start: int) -> None:
            """The k nearest of queries start:start+rows, tile by tile through the references."""
            block = lhs[start : start + rows]
            best = np.full((len(block), n_candidates), -np.inf, dtype=np.float32)
            candidates = np.zeros((len(block), n_candidates), dtype=np.int64)
            tile_memory = np.empty(len(block) * width, dtype=np.float32)
            for first in range(0, len(self), width):
                refs = self._scoring[first : first + width]
                tile = tile_memory[: len(block) * len(refs)].reshape(len(block), len(refs))
                self._score(block, refs, tile)  # larger = nearer
                _merge_top_candidates(tile, first, best, candidates)
            rows_done = slice(start, start + len(block))
            distances[rows_done], indices[rows_done] = self._exact_rerank(
                queries[rows_done], candidates, k
            )

        starts = range(0, n, rows)
        if workers == 1:
            for start in starts:
                scan(start)
        else:  # one BLAS thread per worker: the workers already occupy every core
            pool = ThreadPoolExecutor(workers)
            try:
                with single_threaded_blas():
                    list(pool.map(scan, starts))
            finally:  # on Ctrl-C or an error, drop the blocks not yet started
                pool.shutdown(cancel_futures=True)
        return distances, indices

    def _query_side(self, queries: np.ndarray) -> np.ndarray:
        """The queries as the left factor of the score product (see :meth:`_score`)."""
        if self.metric == "euclidean":
            lhs = np.empty((len(queries), queries.shape[1] + 1), dtype=np.float32)
            lhs[:, :-1] = queries
            lhs[:, -1] = 1.0
            return lhs
        if self.metric == "cosine":
            return queries / _row_norms(queries)[:, None]
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
        """
        refs = self.reference[candidates]  # (chunk, m, d) float32, a fresh copy
        if self.metric == "cosine":
            q = (chunk / _row_norms(chunk)[:, None]).astype(np.float64)
            r = refs / _row_norms(self.reference)[candidates][..., None]
            return np.maximum(1.0 - np.einsum("ij,imj->im", q, r.astype(np.float64)), 0.0)
        refs -= chunk[:, None, :]
        np.abs(refs, out=refs)
        if self.p == 1:
            return refs.sum(axis=2, dtype=np.float64)
        if self.p == 2:
            np.square(refs, out=refs)
            return np.sqrt(refs.sum(axis=2, dtype=np.float64))
        return np.power(refs, self.p, dtype=np.float64).sum(axis=2) ** (1.0 / self.p)


def _row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean row norms, with 1 for all-zero rows (their cosine distance is then 1)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)).astype(X.dtype)
    norms[norms == 0] = 1
    return norms


@cache
def _blas_threads() -> ThreadpoolController:
    """The BLAS libraries in this process (inspecting them is slow, so once)."""
    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager[object]:
    """A context in which BLAS runs on the calling thread only.

    For the search's workers, and for small products just before a search: a multi-threaded
    BLAS call leaves its threads spinning for a while after it returns, and on two cores they
    take a core from the search (a PCA projection of 1,000 digits made the next search 50 %
    slower). The limit is process-wide: when threads overlap in it (the app serving two
    requests), BLAS may stay on one thread afterwards, which costs speed, never correctness.
    """
    return _blas_threads().limit(limits=1, user_api="blas")


def _cpu_count() -> int:
    """Cores this process may run on (not the machine's, under a CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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


@numba.njit(nogil=True, cache=True)
def _merge_top_candidates(
    tile: np.ndarray, offset: int, best: np.ndarray, where: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Fold a score tile into each row's running m best (``best`` scores, ``where`` columns).

    Column j of the tile is reference ``offset + j``. Each row keeps its weakest kept score as
    a threshold; after the first few hundred references almost nothing beats it, so the pass
    costs little more than reading the tile — no sort, no partition.
    """
    n_rows, width = tile.shape
    m = best.shape[1]
    for i in range(n_rows):
        row, kept, index = tile[i], best[i], where[i]
        weakest = 0
        for t in range(1, m):
            if kept[t] < kept[weakest]:
                weakest = t
        threshold = kept[weakest]
        for j in range(width):
            value = row[j]
            if value > threshold:
                kept[weakest] = value
                index[weakest] = offset + j
                weakest = 0
                for t in range(1, m):
                    if kept[t] < kept[weakest]:
                        weakest = t
                threshold = kept[weakest]


def _normalise_metric(metric: str, p: float) -> tuple[str, float]:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if metric == "minkowski":
        if not np.isfinite(p) or p < 1:
            raise ValueError(f"Minkowski p must be a finite number >= 1, got {p}")
        metric = {1: "manhattan", 2: "euclidean"}.get(p, "minkowski")  # type: ignore[call-overload]
    p = {"euclidean": 2, "manhattan": 1, "cosine": 2}.get(metric, p)
    return metric, float(p)


def _check_k(k: int, n_ref: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"n_neighbors must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {k}")
    if k > n_ref:
        raise ValueError(
            f"n_neighbors={k} needs at least {k} training samples, got {n_ref} "
            f"sample{'s' if n_ref != 1 else ''}; use n_neighbors <= {n_ref} or fit on more data"
        )
    return int(k)


def candidate_indices(
    candidates: Any, n_queries: int, n_references: int | None = None
) -> np.ndarray:
    """A second stage's candidates checked once: C-contiguous int64 (n_queries, n_candidates).

    Row i holds reference indices for query i, each in [0, n_references) when that is given.
    """
    cand = np.ascontiguousarray(candidates, dtype=np.int64)
    if cand.ndim != 2 or len(cand) != n_queries:
        raise ValueError(
            f"expected candidates of shape (n_query={n_queries}, n_candidates), got {cand.shape}"
        )
    if n_references is not None and cand.size and (cand.min() < 0 or cand.max() >= n_references):
        raise ValueError(f"candidate indices must lie in [0, {n_references})")
    return cand


def search_kneighbors(
    X: Any,
    reference: Any,
    k: int,
    *,
    metric: Metric = "euclidean",
    p: float = 2,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> tuple[np.ndarray, np.ndarray]:
    """One-off exact k-NN search: (distances (n, k) float64, indices (n, k) int64)."""
    index = NeighborIndex(reference, metric, p=p, memory_budget_mb=memory_budget_mb)
    return index.search(X, k)


class KNNClassifier(ClassifierBase):
    """k-nearest-neighbour classifier with scikit-learn's interface, no scikit-learn inside.

    A scikit-learn estimator: it works with ``clone``, ``Pipeline``, ``GridSearchCV`` and
    ``cross_val_score``, and passes ``check_estimator`` but for our tie rule (see
    ``knn_digits._sklearn.EXPECTED_FAILED_CHECKS``); scikit-learn is not needed to use it.

    Parameters
    ----------
    n_neighbors : int, default 3
        Neighbours that vote. 3 is best on raw MNIST pixels (2.83 % test error).
    metric : "euclidean" (default), "manhattan", "cosine" or "minkowski" (uses ``p``).
    p : float, default 2
        Minkowski exponent; ``metric="minkowski", p=3`` is the L3 distance.
    weights : "uniform" (default) or "distance" (1/d; exact matches take all the weight).
    memory_budget_mb : float, default 16
        MiB of score tiles in flight, all threads together; results do not depend on it.

    Attributes (after ``fit``): ``classes_``, ``n_features_in_``, ``n_samples_fit_``, and
    ``feature_names_in_`` when X was a DataFrame with string column names.
    """

    def __init__(
        self,
        n_neighbors: int = 3,
        *,
        metric: Metric = "euclidean",
        p: float = 2,
        weights: Literal["uniform", "distance"] = "uniform",
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.p = p
        self.weights = weights
        self.memory_budget_mb = memory_budget_mb

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any) -> KNNClassifier:
        """Remember the training data (validated, float32) and its classes; returns self."""
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        samples = _as_float_matrix(X)
        _check_k(self.n_neighbors, len(samples))
        labels = _as_labels(y, len(samples))
        self._remember_feature_names(X)
        self._index = NeighborIndex(
            samples, self.metric, p=self.p, memory_budget_mb=self.memory_budget_mb
        )
        self.classes_, self._y = np.unique(labels, return_inverse=True)
        self.n_features_in_ = samples.shape[1]
        return self

    def add(self, X: Any, y: Any) -> KNNClassifier:
        """Append samples to a fitted model without refitting; new classes are welcome."""
        index = self._fitted_index()
        samples = _as_float_matrix(X, "X", index.n_features)
        labels = _as_labels(y, len(samples))
        all_labels = np.concatenate([self.classes_[self._y], labels.astype(self.classes_.dtype)])
        index.add(samples)
        self.classes_, self._y = np.unique(all_labels, return_inverse=True)
        return self

    @property
    def n_samples_fit_(self) -> int:
        return len(self._fitted_index())

    def _fitted_index(self) -> NeighborIndex:
        if not hasattr(self, "_index"):
            raise not_fitted_error(self)
        return self._index

    # ------------------------------------------------------------------ querying

    def kneighbors(
        self, X: Any, n_neighbors: int | None = None, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """Distances and indices of each query's nearest training samples, nearest first."""
        index = self._fitted_index()
        self._check_feature_names(X)
        # Validated here to name the class in errors; the index's check again is one cheap pass.
        queries = _as_float_matrix(X, "X", index.n_features, owner=type(self).__name__)
        distances, indices = index.search(
            queries, self.n_neighbors if n_neighbors is None else n_neighbors
        )
        return (distances, indices) if return_distance else indices

    def predict_proba(self, X: Any) -> np.ndarray:
        """Vote shares of shape (n, n_classes), columns in ``classes_`` order."""
        distances, indices = self.kneighbors(X)  # type: ignore[misc]
        votes = vote(distances, self._y[indices], len(self.classes_), self.weights)
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The winning class of each query; ties go to the nearest neighbour's class."""
        distances, indices = self.kneighbors(X)  # type: ignore[misc]
        neighbor_classes = self._y[indices]
        votes = vote(distances, neighbor_classes, len(self.classes_), self.weights)
        return self.classes_[break_ties(votes, neighbor_classes)]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to ``.npz`` (no pickle): the parameters, training data and labels."""
        index = self._fitted_index()
        np.savez(
            Path(path),
            params=np.array(json.dumps(self.get_params())),
            X=index.reference,
            y=self.classes_[self._y],
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KNNClassifier:
        """Load a model written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                params = json.loads(str(archive["params"]))
                X, y = archive["X"], archive["y"]
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a saved KNNClassifier ({exc})") from None
        return cls(**params).fit(X, y)


def _as_labels(y: Any, n_samples: int) -> np.ndarray:
    """Class labels as a 1-D array; floats only when they are whole numbers (else: regression)."""
    if y is None:
        raise ValueError("KNNClassifier requires y to be passed, but the target y is None")
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        warn_column_vector()
        labels = labels.ravel()
    if labels.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {labels.shape}")
    if len(labels) != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {len(labels)} labels")
    if labels.dtype == object:
        labels = labels.astype(str)
    if np.issubdtype(labels.dtype, np.floating) and not np.all(
        np.isfinite(labels) & (np.round(labels) == labels)
    ):
        raise ValueError(
            "Unknown label type: continuous (y holds fractional, NaN or infinite values); "
            "a classifier needs class labels"
        )
    return labels


def vote(
    distances: np.ndarray, neighbor_classes: np.ndarray, n_classes: int, weights: str
) -> np.ndarray:
    """Summed votes of shape (n, n_classes) from sorted neighbours.

    ``weights="distance"`` gives 1/d; a row with exact matches (d = 0) gives them weight 1 and
    every other neighbour 0, so there is never a division by zero.
    """
    n, k = neighbor_classes.shape
    if weights == "uniform":
        w = np.ones((n, k))
    else:
        exact = distances == 0
        with np.errstate(divide="ignore"):
            w = np.where(exact.any(axis=1, keepdims=True), exact, 1.0 / distances)
    cells = (np.arange(n)[:, None] * n_classes + neighbor_classes).ravel()
    return np.bincount(cells, w.ravel(), minlength=n * n_classes).reshape(n, n_classes)


def break_ties(votes: np.ndarray, neighbor_classes: np.ndarray) -> np.ndarray:
    """The class with most votes; among tied classes, the one of the nearest neighbour.

    ``neighbor_classes`` (n, k) is sorted nearest first, so the first neighbour whose class is
    among the tied ones decides. Neither training order nor label value plays a part.
    """
    best = votes.max(axis=1, keepdims=True)
    tied = votes >= best * (1 - 1e-12)  # (n, n_classes)
    rows = np.arange(len(votes))[:, None]
    first = np.argmax(tied[rows, neighbor_classes], axis=1)
    return neighbor_classes[np.arange(len(votes)), first]
