"""Arguments checked once, at the edge: data matrices, k, metrics, labels, candidate lists.

Error messages say what was expected, what came, and how to fix it; several follow
scikit-learn's wording, which its estimator checks look for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from .._sklearn import warn_column_vector

METRICS = ("euclidean", "manhattan", "cosine", "minkowski")


def as_float_matrix(
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


def normalise_metric(metric: str, p: float) -> tuple[str, float]:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if metric == "minkowski":
        if not np.isfinite(p) or p < 1:
            raise ValueError(f"Minkowski p must be a finite number >= 1, got {p}")
        metric = {1: "manhattan", 2: "euclidean"}.get(p, "minkowski")  # type: ignore[call-overload]
    p = {"euclidean": 2, "manhattan": 1, "cosine": 2}.get(metric, p)
    return metric, float(p)


def check_k(k: int, n_ref: int) -> int:
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


def as_labels(y: Any, n_samples: int) -> np.ndarray:
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
