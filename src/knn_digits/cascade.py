"""The ``accurate`` preset's cascade: the image distortion model in full only where it matters.

IDM on 1000 candidates, 30 of them also distorted (1,180 comparisons a digit), is what makes
``accurate`` accurate, and nearly all of its time. Most digits do not need it: tangent distance
(~100× cheaper) to the first stage's nearest already agrees on one class by a wide margin. Such
a digit gets IDM on its few tangent-nearest only; the rest, and any digit far from every
reference, get the full stage. Distances are IDM distances either way, so the vote weights and
the app's neighbours read them as before. The thresholds are preset fields, chosen on
validation by ``benchmarks/cascade.py`` (``docs/faster_presets.md``).

Segmentation's scorer does not use it (:mod:`knn_digits.scoring`): it compares nearest
distances across ways of cutting a drawing, which the cheap path would skew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import tangent

if TYPE_CHECKING:
    from .models import DigitModel

__all__ = ["k_nearest", "kneighbors", "tangent_margin"]


def kneighbors(
    model: DigitModel, pixels: np.ndarray, n_candidates: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices) of each query's k nearest by IDM, the full stage only for doubt.

    ``pixels`` are prepared digits (n, 784); the full stage compares each doubtful digit with
    its ``n_candidates`` first-stage nearest.

    A digit whose nearest other class is more than ``cascade_margin`` times as far as its
    nearest, by tangent distance over its ``cascade_tangents`` nearest candidates, is
    one-sided: IDM compares only its ``cascade_idm`` tangent-nearest, the
    ``cascade_distorted`` nearest of them also distorted (so its nearest distance is on the
    full stage's scale). If that nearest is within ``cascade_far`` the answer stands; a digit
    far from every reference is doubtful however one-sided its neighbours, and gets the full
    stage like the others.

    The first stage is asked twice: every digit for its ``cascade_tangents`` nearest, then the
    doubtful ones (~10 %) for all ``n_candidates``. An exact search's nearest 20 are the first
    20 of its nearest 1000, and keeping 1000 candidates a query costs seven times as much as
    keeping 20 (a heap of 1000, ~4,000 insertions a query), so nobody pays for 1000 who
    does not use them.
    """
    preset = model.preset
    queries = pixels.reshape(-1, 28, 28)
    distances = np.empty((len(queries), k), np.float64)
    indices = np.empty((len(queries), k), np.int64)
    clear = np.zeros(len(queries), bool)
    n_tangents = min(preset.cascade_tangents, n_candidates)
    n_idm = min(max(preset.cascade_idm, k), n_tangents)
    # More neighbours asked for than the cheap path compares: every digit takes the full stage.
    if n_idm >= k:
        _, near = model._search(pixels, n_tangents)
        references, rows = model._candidate_pixels(near)
        tangents = tangent.tangent_distance(queries, references, rows, sigma=preset.tangent_sigma)
        near_labels = model.train_labels_[near]
        one_sided = np.flatnonzero(tangent_margin(tangents, near_labels) > preset.cascade_margin)
        if len(one_sided):
            order = np.argsort(tangents[one_sided], axis=1, kind="stable")[:, :n_idm]
            few = np.take_along_axis(rows[one_sided], order, axis=1)
            idm = model._idm(queries[one_sided], references, few, preset.cascade_distorted, k)
            chosen = np.take_along_axis(near[one_sided], order, axis=1)
            nearest, nearest_indices = k_nearest(idm, chosen, k)
            close = nearest[:, 0] <= (preset.cascade_far or np.inf)
            kept = one_sided[close]
            distances[kept], indices[kept] = nearest[close], nearest_indices[close]
            clear[kept] = True
    doubt = ~clear
    if doubt.any():
        _, candidates = model._search(pixels[doubt], n_candidates)
        references, rows = model._candidate_pixels(candidates)
        full = model._second_stage(queries[doubt], references, rows, nearest=k)
        distances[doubt], indices[doubt] = k_nearest(full, candidates, k)
    return distances, indices


def k_nearest(
    distances: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest second-stage distances per row (float64) and their candidates.

    Rows may hold +inf for candidates IDM abandoned early: never among the k smallest."""
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(distances, order, axis=1).astype(np.float64),
        np.take_along_axis(candidates, order, axis=1),
    )


def tangent_margin(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How clear each row's answer is: the nearest other class's distance over the nearest's.

    ``distances`` and ``labels`` are (n, m), in any order; a row whose m candidates all share
    one class has an infinite margin, and one with the nearest at distance 0 too (unless
    another class is at 0 as well).

    >>> tangent_margin(np.array([[2.0, 1.0, 3.0]]), np.array([[5, 3, 3]])).tolist()
    [2.0]
    """
    order = np.argsort(distances, axis=1, kind="stable")
    dist = np.take_along_axis(distances, order, axis=1).astype(np.float64)
    classes = np.take_along_axis(labels, order, axis=1)
    other = classes != classes[:, :1]
    nearest_other = np.where(other, dist, np.inf).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = nearest_other / dist[:, 0]
    return np.where(np.isnan(margin), 1.0, margin)
