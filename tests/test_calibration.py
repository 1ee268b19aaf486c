"""Calibration: ECE computed right on a toy case, smoothing that keeps decisions, doubt."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.calibration import doubt, expected_calibration_error, fit_smoothing, smooth


def test_ece_by_hand() -> None:
    # Bin [0.9, 1.0): confidences 0.95, 0.95, accuracy 1/2 → gap 0.45, weight 2/5.
    # Bin [0.6, 0.7): confidences 0.6, 0.6, 0.6, accuracy 2/3 → gap 1/15, weight 3/5.
    proba = np.array([[0.95, 0.05], [0.05, 0.95], [0.6, 0.4], [0.4, 0.6], [0.6, 0.4]])
    labels = np.array([0, 0, 0, 1, 1])
    assert expected_calibration_error(proba, labels) == pytest.approx(0.4 * 0.45 + 0.6 / 15)


def test_perfect_calibration_has_no_error() -> None:
    proba = np.tile([0.75, 0.25], (8, 1))
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1])  # right 3 times in 4
    assert expected_calibration_error(proba, labels) == pytest.approx(0.0)


def test_smoothing_keeps_the_decisions_and_fixes_overconfidence() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    answers = np.where(rng.random(2000) < 0.9, labels, (labels + 1) % 10)  # 90 % right
    shares = np.eye(10)[answers]  # every vote unanimous: confidence 1
    strength = fit_smoothing(shares, labels)
    calibrated = smooth(shares, strength)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), answers)
    assert expected_calibration_error(shares, labels) == pytest.approx(0.1, abs=0.02)
    assert expected_calibration_error(calibrated, labels) < 0.02
    np.testing.assert_array_equal(smooth(shares, 0.0), shares)


def test_doubt_names_the_two_candidates_only_when_close() -> None:
    close = np.zeros(10)
    close[[7, 1]] = 0.55, 0.45
    assert doubt(close) == (7, 1)
    sure = np.zeros(10)
    sure[[7, 1]] = 0.9, 0.1
    assert doubt(sure) is None
