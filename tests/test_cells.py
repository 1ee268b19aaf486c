"""The k-means cell index: exact with every cell probed, and a good approximation with few."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.features import PCA, deskew
from knn_digits.neighbors import search_kneighbors
from knn_digits.neighbors.cells import CellIndex


@pytest.fixture(scope="module")
def digits(mnist_train) -> tuple[np.ndarray, np.ndarray]:
    """Deskewed digits in PCA-30, as the ``fast`` preset searches them: references, queries."""
    pixels = deskew(mnist_train[0][:6000]).reshape(6000, -1)
    features = PCA(30).fit(pixels[:5000]).transform(pixels)
    return features[:5000], features[5000:5300]


def test_probing_every_cell_is_exact(digits) -> None:
    X, Q = digits
    index = CellIndex(X, n_cells=64)
    d, i = index.search(Q, 20, n_probe=64)
    d_exact, i_exact = search_kneighbors(Q, X, 20, algorithm="brute")
    np.testing.assert_array_equal(i, i_exact)
    np.testing.assert_allclose(d, d_exact, rtol=1e-4)


def test_few_probes_keep_most_nearest_neighbours(digits) -> None:
    X, Q = digits
    index = CellIndex(X, n_cells=64)
    _, i_exact = search_kneighbors(Q, X, 20, algorithm="brute")
    recalls = []
    for probes in (2, 8):
        _, i = index.search(Q, 20, n_probe=probes)
        shared = [len(set(a) & set(b)) for a, b in zip(i, i_exact, strict=True)]
        recalls.append(np.mean(shared) / 20)
    assert recalls[0] < recalls[1]  # more probes, more of the true neighbours
    assert recalls[1] > 0.9


def test_added_references_are_found_and_too_few_are_marked() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    index = CellIndex(X, n_cells=16)
    new = rng.normal(size=(10, 5)).astype(np.float32) + 10.0  # far from every cell
    index.add(new)
    d, i = index.search(new, 1, n_probe=16)
    assert i[:, 0].tolist() == list(range(400, 410)) and np.all(d[:, 0] == 0)
    d, i = index.search(X[:3], len(index), n_probe=1)  # one cell can't hold 410 references
    assert np.all(i[:, -1] == -1) and np.all(np.isinf(d[:, -1]))
    with pytest.raises(ValueError, match="n_cells"):
        CellIndex(X, n_cells=0)


@pytest.mark.parametrize("iterations", [0, 12])
def test_a_block_probing_more_cells_than_exist_finds_each_reference_once(
    digits, iterations: int
) -> None:
    """search_block (the pruned search's first candidates) clamps the probes to the cells:
    probing one cell twice would list its references twice. Random centres (no k-means
    steps) make cells just as valid."""
    X, Q = digits
    index = CellIndex(X[:300], n_cells=4, iterations=iterations)
    _, i = index.search_block(Q[:20], 300, n_probe=9)
    for row in i:
        assert sorted(row.tolist()) == list(range(300))
