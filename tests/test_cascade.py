"""The ``accurate`` preset's cascade: IDM distances either way, the full stage for doubt."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from knn_digits.cascade import tangent_margin
from knn_digits.models import PRESETS, DigitModel, as_images
from knn_digits.scoring import DigitScorer


def test_tangent_margin_by_hand() -> None:
    distances = np.array([[2.0, 1.0, 3.0], [1.0, 2.0, 4.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    labels = np.array([[5, 3, 3], [3, 3, 3], [1, 2, 1], [4, 4, 4]])
    margin = tangent_margin(distances, labels)
    assert margin[0] == 2.0  # nearest: 1.0 (a 3), nearest other class: 2.0 (the 5)
    assert np.isinf(margin[1]) and np.isinf(margin[3])  # one class only
    assert margin[2] == 1.0  # two classes at distance 0: no margin at all


def test_cascade_keeps_idm_distances_and_doubtful_digits_get_the_full_stage(mnist_train) -> None:
    X, y = mnist_train[0][:2000], mnist_train[1][:2000]
    queries = mnist_train[0][2000:2030]
    small = dataclasses.replace(
        PRESETS["accurate"], rerank=50, distorted=10, cascade_margin=0, cascade_far=0
    )
    full = DigitModel(small).fit(X, y)
    never = copy.copy(full)
    never.preset = dataclasses.replace(full.preset, cascade_margin=np.inf)
    np.testing.assert_array_equal(never.kneighbors(queries)[1], full.kneighbors(queries)[1])
    too_far = copy.copy(full)  # every digit one-sided, none near enough to keep the cheap answer
    too_far.preset = dataclasses.replace(full.preset, cascade_margin=0.5, cascade_far=1e-6)
    np.testing.assert_array_equal(too_far.kneighbors(queries)[1], full.kneighbors(queries)[1])
    pixels = full._pixels(as_images(queries)).reshape(-1, 28, 28)
    plain = {}
    for n_distorted in (0, 1):
        always = copy.copy(full)  # every margin is >= 1: every digit is clear
        always.preset = dataclasses.replace(
            full.preset, cascade_margin=0.5, cascade_idm=6, cascade_distorted=n_distorted
        )
        distances, indices = always.kneighbors(queries)
        # IDM distances, the nearest also tried distorted when asked (it stays the nearest)
        idm = full._idm(pixels, full._train_pixels, indices, n_distorted)
        np.testing.assert_allclose(distances, idm, rtol=1e-6)
        assert np.all(np.diff(distances, axis=1) >= 0)
        assert np.mean(always.predict(queries) == mnist_train[1][2000:2030]) >= 0.9
        plain[n_distorted] = distances
    assert np.all(plain[1][:, 0] <= plain[0][:, 0]) and np.any(plain[1][:, 0] < plain[0][:, 0])
    # Segmentation's scorer (and so the app) reads with the full stage whatever the preset
    # (and with the preset's vote for drawings).
    scorer = DigitScorer(always, scale=1.0)
    scored = scorer.explain(list(queries.astype(np.float32) / 255))[1]
    np.testing.assert_array_equal(scored, full.for_drawings().kneighbors(queries)[0])


def test_more_neighbours_than_the_cheap_path_compares(mnist_train) -> None:
    # kneighbors(x, k) with k above cascade_tangents crashed on the cheap path's short rows
    # (found by a teaching experiment asking for 23); such digits take the full stage.
    X, y = mnist_train[0][:2000], mnist_train[1][:2000]
    queries = mnist_train[0][2000:2010]
    small = dataclasses.replace(PRESETS["accurate"], rerank=50, distorted=10)
    full = DigitModel(dataclasses.replace(small, cascade_margin=0)).fit(X, y)
    cascaded = copy.copy(full)
    cascaded.preset = dataclasses.replace(full.preset, cascade_margin=0.5)  # every digit clear
    k = cascaded.preset.cascade_tangents + 3
    distances, indices = cascaded.kneighbors(queries, k)
    assert indices.shape == (10, k)
    np.testing.assert_array_equal(indices, full.kneighbors(queries, k)[1])


def test_the_cascade_s_two_first_stage_searches_answer_as_one(mnist_train) -> None:
    # The cascade asks the first stage for cascade_tangents candidates for every digit and
    # for all rerank candidates only for the doubtful ones: the same as one search of rerank
    # candidates whose first cascade_tangents the cheap path reads.
    X, y = mnist_train[0][:3000], mnist_train[1][:3000]
    queries = mnist_train[0][3000:3300]
    model = DigitModel(dataclasses.replace(PRESETS["accurate"], rerank=400)).fit(X, y)
    pixels = model._pixels(as_images(queries))
    distances, indices = model._search(pixels, 400)
    few_distances, few = model._search(pixels, model.preset.cascade_tangents)
    np.testing.assert_array_equal(few, indices[:, : model.preset.cascade_tangents])
    np.testing.assert_array_equal(few_distances, distances[:, : model.preset.cascade_tangents])

    def from_one_search(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        which = [np.flatnonzero((pixels == row).all(axis=1))[0] for row in rows]
        return distances[which, :k], indices[which, :k]

    one_search = copy.copy(model)  # the same model answering from one search of 400
    one_search._search = from_one_search  # type: ignore[method-assign]
    np.testing.assert_array_equal(one_search.kneighbors(queries)[1], model.kneighbors(queries)[1])
