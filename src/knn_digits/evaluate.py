"""Measuring a model on labelled digits: error rate, confusion matrix, per-class scores, timings.

The library never prints: long runs report through an optional ``progress(n_done)`` callback,
which the CLI turns into a progress bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import DigitModel
from .neighbors import break_ties, vote

__all__ = [
    "Evaluation",
    "confusion_matrix",
    "error_by_k",
    "evaluate_model",
    "per_class_scores",
]

N_CLASSES = 10


def confusion_matrix(true: Any, predicted: Any, n_classes: int = N_CLASSES) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): rows are true digits, columns predictions."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    cells = np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes)


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall (= per-class accuracy) and F1 per class; 0 where undefined."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(hits / confusion.sum(axis=0))
        recall = np.nan_to_num(hits / confusion.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass
class Evaluation:
    """What one evaluation run measured."""

    predictions: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) int64
    predict_seconds: float

    @property
    def n_test(self) -> int:
        return len(self.labels)

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predictions)

    @property
    def error_rate(self) -> float:
        return float(np.mean(self.predictions != self.labels))

    def per_class_accuracy(self) -> np.ndarray:
        """Recall of each digit 0–9 (NaN for a digit absent from the labels)."""
        confusion = self.confusion
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(confusion) / confusion.sum(axis=1)


def evaluate_model(
    model: DigitModel,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Classify ``images`` in batches and compare with ``labels``.

    ``progress`` is called with the number of images finished after each batch.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    predictions = np.empty(len(images), dtype=np.int64)
    start = time.perf_counter()
    for first in range(0, len(images), batch_size):
        batch = images[first : first + batch_size]
        predictions[first : first + len(batch)] = model.predict(batch)
        if progress:
            progress(len(batch))
    elapsed = time.perf_counter() - start
    return Evaluation(predictions, np.asarray(labels, dtype=np.int64), elapsed)


def error_by_k(
    distances: np.ndarray,
    neighbor_labels: np.ndarray,
    labels: Any,
    *,
    weights: str = "uniform",
    n_classes: int = N_CLASSES,
) -> np.ndarray:
    """Error rate for every k from 1 to K, out of one search for the K nearest neighbours.

    The neighbours of a query for k are the first k of its K nearest, so one expensive search
    gives the whole k-curve; each k votes and breaks ties exactly as ``KNNClassifier.predict``.

    Parameters
    ----------
    distances : (n, K) float, nearest first, as ``kneighbors`` returns them.
    neighbor_labels : (n, K) int, the labels of those neighbours (0 .. n_classes - 1).
    labels : (n,) the true labels.
    weights : "uniform" or "distance", as in ``KNNClassifier``.

    Returns float64 of shape (K,): entry ``k - 1`` is the error rate of the k-NN vote.

    >>> d = np.array([[0.1, 0.2, 0.3]]); nl = np.array([[1, 0, 0]])
    >>> error_by_k(d, nl, [0]).tolist()
    [1.0, 1.0, 0.0]
    """
    labels = np.asarray(labels, dtype=np.int64)
    errors = np.empty(neighbor_labels.shape[1])
    for k in range(1, len(errors) + 1):
        votes = vote(distances[:, :k], neighbor_labels[:, :k], n_classes, weights)
        errors[k - 1] = np.mean(break_ties(votes, neighbor_labels[:, :k]) != labels)
    return errors
