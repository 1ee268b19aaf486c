"""How well a model reads a candidate digit: the score recognition-driven segmentation maximises.

:func:`knn_digits.preprocess.segment_number` proposes ways to cut a written number and asks a
scorer which reads best. :class:`DigitScorer` answers with the model's own reading: a piece that
is one whole digit gets a clear vote from near neighbours; half a digit, or two digits read as
one, gets a split vote or only far neighbours. Each digit's answer is kept, so the digits
finally chosen are not read twice: a number costs one model call per distinct candidate.

The weights were chosen on numbers composed from pen writers 1–20
(``benchmarks/written_numbers.py --split tune``) and confirmed on writers 21–30.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_digits.models import DigitModel, to_uint8

__all__ = ["DigitScorer", "distance_scale"]

# score = log(top vote share) - DISTANCE_WEIGHT * nearest distance / scale + DIGIT_BONUS.
# The distance term carries most of it: a merged pair or a sliver still wins a clear vote, but
# from far neighbours. On 180 tune numbers, vote shares alone found the right digit count for
# 84 % of them, with distances 98 % (weights 0.5–4 and bonuses -1–0.5 tried, with the aspect
# and acceptance settings of knn_digits.preprocess.segment).
DISTANCE_WEIGHT = 1.0
# Each digit of a reading adds this: below 0, a reading does not gain by cutting a digit up.
DIGIT_BONUS = -0.5
# Training digits whose nearest other training digit sets the model's distance scale: every
# n // PROBES-th, so the same digits whatever a few taught samples add at the end. The median of
# 32 varied by ±8 % (one standard deviation) with the choice of digits, of 256 by ±2.5 %.
PROBES = 256


def distance_scale(model: DigitModel) -> float:
    """The model's typical distance between neighbouring digits: the median, over digits spread
    evenly through its references, of the distance to the nearest *other* one.

    Distances of different presets (pixels, tangent distance, IDM) differ by orders of
    magnitude; in this unit a score's weights hold for all of them. Measured with the full
    second stage, as :class:`DigitScorer` reads: one search of ``PROBES`` digits (~3 s for
    ``accurate`` on two idle cores).
    """
    n = len(model.train_images_)
    probes = model.train_images_[:: max(1, n // PROBES)][:PROBES]
    distances, _ = model.without_cascade().kneighbors(probes, 2)
    scale = float(np.median(distances[:, 1]))
    return scale if scale > 0 else 1.0


class DigitScorer:
    """A :data:`knn_digits.preprocess.Scorer` that reads candidates with ``model``.

    Digits are read as uint8, exactly as the app reads them. ``explain`` gives the model's full
    answer (vote shares, distances, indices) for digits, from memory when already scored.
    """

    def __init__(self, model: DigitModel, scale: float) -> None:
        # The full second stage for every candidate: scores compare nearest distances across
        # readings, which a cascade's cheap path would skew, and a drawing is a few digits.
        # Candidates come from the drawing pipeline: the preset's vote for drawn digits.
        self.model = model.for_drawings().without_cascade()
        self.scale = scale
        self._seen: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def explain(self, digits: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(proba (n, 10), distances (n, k), indices (n, k)) of digits (28, 28) in [0, 1]."""
        batch = to_uint8(np.stack(digits))
        keys = [digit.tobytes() for digit in batch]
        new = [i for i, key in enumerate(keys) if key not in self._seen]
        unique = list(dict.fromkeys(keys[i] for i in new))
        if unique:
            first = [keys.index(key) for key in unique]
            for key, *rows in zip(unique, *self.model.explain(batch[first]), strict=True):
                self._seen[key] = tuple(rows)  # type: ignore[assignment]
        proba, distances, indices = zip(*(self._seen[key] for key in keys), strict=True)
        return np.stack(proba), np.stack(distances), np.stack(indices)

    def __call__(self, digits: list[np.ndarray]) -> np.ndarray:
        proba, distances, _ = self.explain(digits)
        confidence = np.log(proba.max(axis=1) + 1e-3)
        return confidence - DISTANCE_WEIGHT * distances[:, 0] / self.scale + DIGIT_BONUS
