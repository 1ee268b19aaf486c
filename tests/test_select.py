"""Top-candidate selection against numpy: the m largest scores of each row, tile by tile."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.neighbors.select import merge_top_candidates


@pytest.mark.parametrize(
    ("m", "tile_width"), [(1, 64), (5, 37), (28, 2048), (40, 100), (1000, 2048), (1008, 700)]
)
def test_merge_keeps_the_m_largest_of_each_row(m: int, tile_width: int) -> None:
    """Rows of 5,000 scores, rounded to few values (many ties), folded in tiles of any width."""
    rng = np.random.default_rng(m)
    scores = np.round(rng.normal(size=(6, 5000)), 2).astype(np.float32)
    scores[1] = 1.0  # every score tied
    scores[2] = np.sort(scores[2])  # each tile beats the last: every score gets in
    best = np.full((len(scores), m), -np.inf, np.float32)
    where = np.zeros((len(scores), m), np.int64)
    for first in range(0, scores.shape[1], tile_width):
        tile = np.ascontiguousarray(scores[:, first : first + tile_width])
        merge_top_candidates(tile, first, best, where)
    expected = -np.sort(-scores, axis=1)[:, :m]
    np.testing.assert_array_equal(np.sort(best, axis=1)[:, ::-1], expected)
    np.testing.assert_array_equal(np.take_along_axis(scores, where, axis=1), best)
    assert all(len(set(row)) == m for row in where.tolist())  # no reference twice
    children = np.arange(1, m)
    parents = (children - 1) // 2
    assert (best[:, parents] <= best[:, children]).all()  # a min-heap: the weakest first
