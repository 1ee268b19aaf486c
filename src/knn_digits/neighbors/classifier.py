"""The k-NN classifier: scikit-learn's estimator interface over :class:`NeighborIndex`.

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
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._sklearn import ClassifierBase, not_fitted_error
from ..errors import ModelError
from .brute import DEFAULT_MEMORY_BUDGET_MB, Algorithm, Metric, NeighborIndex
from .checks import as_float_matrix, as_labels, check_k

WEIGHTS = ("uniform", "distance")


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
    algorithm : "auto" (default), "brute", "pruned" or "screened"
        How the exact search finds the neighbours; results do not depend on it. "pruned" rules
        references out by a lower bound on principal axes (euclidean and cosine only; 0.2× the
        work of brute force on raw MNIST), "screened" does so for few features in one compiled
        kernel (euclidean only; ``fast``'s PCA-30), "auto" uses them where they pay (see
        ``NeighborIndex``).

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
        algorithm: Algorithm = "auto",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.p = p
        self.weights = weights
        self.memory_budget_mb = memory_budget_mb
        self.algorithm = algorithm

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any) -> KNNClassifier:
        """Remember the training data (validated, float32) and its classes; returns self."""
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        samples = as_float_matrix(X)
        check_k(self.n_neighbors, len(samples))
        labels = as_labels(y, len(samples))
        self._remember_feature_names(X)
        self._index = NeighborIndex(
            samples,
            self.metric,
            p=self.p,
            memory_budget_mb=self.memory_budget_mb,
            algorithm=self.algorithm,
        )
        self.classes_, self._y = np.unique(labels, return_inverse=True)
        self.n_features_in_ = samples.shape[1]
        return self

    def add(self, X: Any, y: Any) -> KNNClassifier:
        """Append samples to a fitted model without refitting; new classes are welcome."""
        index = self._fitted_index()
        samples = as_float_matrix(X, "X", index.n_features)
        labels = as_labels(y, len(samples))
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
        queries = as_float_matrix(X, "X", index.n_features, owner=type(self).__name__)
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
