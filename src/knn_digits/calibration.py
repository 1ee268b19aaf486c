"""Honest doubt: vote shares that mean what they say, and the measure of how far they don't.

A k-NN's vote shares are not probabilities: with four distance-weighted voters the winner often
holds 99 % of the vote while the model errs far more often than 1 % of the time on drawings.
Additive smoothing, share → (share + s) / (1 + 10 s), keeps every decision (the order of the
shares is unchanged) and pulls confidence towards what the votes can support; ``s`` is fitted
by log-loss on a validation split (``benchmarks/calibrate.py``), never on a test set.
Expected calibration error (ECE) measures the result: the mean gap between the confidence
shown and the accuracy achieved, over bins of confidence, weighted by the bins' sizes.

>>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
>>> float(expected_calibration_error(proba, np.array([0, 1, 0, 0])))  # |0.9-0.5|, |0.6-1|
0.4
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["doubt", "expected_calibration_error", "fit_smoothing", "smooth"]

# When the runner-up holds at least this share of the winner's probability, the answer is
# said to be in doubt ("7 or 1?") and the app asks to be taught.
DOUBT_RATIO = 0.5


def smooth(shares: np.ndarray, strength: float) -> np.ndarray:
    """Vote shares (n, c) → smoothed probabilities (n, c); ``strength`` 0 changes nothing."""
    shares = np.asarray(shares, np.float64)
    return (shares + strength) / (1 + shares.shape[1] * strength)


def expected_calibration_error(proba: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: Σ_bins (size / n) · |accuracy − mean confidence|, bins equally wide."""
    proba = np.asarray(proba, np.float64)
    confidence = proba.max(axis=1)
    right = proba.argmax(axis=1) == np.asarray(labels)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    gap = 0.0
    for b in np.unique(bins):
        members = bins == b
        gap += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return gap / len(labels)


def fit_smoothing(
    shares: np.ndarray,
    labels: np.ndarray,
    grid: Sequence[float] = tuple(np.geomspace(1e-4, 0.3, 40)),
) -> float:
    """The strength on ``grid`` with the lowest log-loss of the true labels."""
    rows = np.arange(len(labels))

    def log_loss(strength: float) -> float:
        return float(-np.log(smooth(shares, strength)[rows, labels] + 1e-12).mean())

    return min(grid, key=log_loss)


def doubt(proba: np.ndarray) -> tuple[int, int] | None:
    """For one digit's probabilities (10,): (winner, runner-up) when the vote is close."""
    first, second = np.argsort(proba)[::-1][:2]
    if proba[second] > DOUBT_RATIO * proba[first]:
        return int(first), int(second)
    return None
