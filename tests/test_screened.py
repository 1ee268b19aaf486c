"""The screened search against brute force and scikit-learn: same neighbours, same distances.

The bound it marks by is checked on its own (never below a reference's true score by more
than the slack), and so is its retreat to brute force where the bound does not prune.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from knn_digits.features import PCA
from knn_digits.neighbors import KNNClassifier, NeighborIndex, screened, search_kneighbors


@pytest.fixture(scope="module")
def digits30(mnist_train, mnist_test) -> tuple[np.ndarray, np.ndarray]:
    """MNIST in 30 principal components (as ``fast``'s first stage): 10,000 references and
    500 queries from the test set."""
    train, test = mnist_train[0][:10_000], mnist_test[0][:500]
    pca = PCA(30).fit(train.reshape(len(train), -1) / 255.0)
    project = lambda images: pca.transform(images.reshape(len(images), -1) / 255.0)  # noqa: E731
    return project(train), project(test)


def _assert_same_as_brute(X: np.ndarray, Q: np.ndarray, k: int) -> None:
    """Screened and brute force agree: distances bit for bit, indices where none tie."""
    d_screened, i_screened = search_kneighbors(Q, X, k, algorithm="screened")
    d_brute, i_brute = search_kneighbors(Q, X, k, algorithm="brute")
    np.testing.assert_array_equal(d_screened, d_brute)
    for row, col in zip(*np.nonzero(i_screened != i_brute), strict=True):
        every = np.sqrt(((X.astype(np.float64) - Q[row]) ** 2).sum(axis=1))
        assert every[i_screened[row, col]] == every[i_brute[row, col]]


def _screen_used(X: np.ndarray, Q: np.ndarray, k: int) -> bool:
    """Whether the screened kernel answered (True) or handed over to brute force."""
    index = NeighborIndex(X, algorithm="screened")
    assert index._screen is not None
    return index._screen.candidates(Q.astype(np.float32), k + 8) is not None


@pytest.mark.parametrize("k", [1, 4, 20, 56])
def test_same_neighbours_as_brute_force_on_digits(digits30, k: int, monkeypatch) -> None:
    X, Q = digits30
    if k > 4:  # raw digits' PCA-30 and 10,000 references bound loosely for many neighbours:
        monkeypatch.setattr(screened, "GIVE_UP", 1.0)  # never hand over to brute force here
    assert _screen_used(X, Q, k)  # the kernel itself answers, no fallback
    _assert_same_as_brute(X, Q, k)


def test_same_neighbours_as_scikit_learn(digits30) -> None:
    X, Q = digits30
    d, i = search_kneighbors(Q, X, 5, algorithm="screened")
    oracle = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(X.astype(np.float64))
    d_oracle, i_oracle = oracle.kneighbors(Q.astype(np.float64))
    np.testing.assert_allclose(d, d_oracle, rtol=1e-6, atol=1e-6)
    assert (i == i_oracle).mean() > 0.999  # differences only where distances tie in float


def test_auto_screens_few_features_with_many_references(digits30) -> None:
    X, _ = digits30
    assert NeighborIndex(X)._screen is not None  # 30 features, 10,000 references
    assert NeighborIndex(X[:4000])._screen is None  # too few references to pay
    assert NeighborIndex(np.hstack([X, X[:, :20]]))._screen is None  # 50, as accurate's PCA
    assert NeighborIndex(X, "cosine")._screen is None
    assert NeighborIndex(X, algorithm="brute")._screen is None
    assert NeighborIndex(X[:, :8], algorithm="screened")._screen is None  # too few features


def test_exact_duplicates_keep_the_lowest_indices() -> None:
    """Forty copies of each of 300 points, 45 neighbours: the 40 copies of the nearest point
    and 5 of the 40 copies of the next, tied. The screen keeps the lowest indices, as the
    order (distance, index) says. (Brute force may not: BLAS can round two copies' scores
    differently, so which copies reach its candidates is up to rounding.)"""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 20)).astype(np.float32) * np.geomspace(8, 0.1, 20)
    X = np.repeat(points, 40, axis=0)[rng.permutation(12_000)]
    Q = points[:50] + rng.normal(scale=1e-3, size=(50, 20)).astype(np.float32)
    d, i = search_kneighbors(Q, X, 45, algorithm="screened")
    exact = np.sqrt(((X[None].astype(np.float64) - Q[:, None]) ** 2).sum(axis=2))  # (50, n)
    oracle = np.lexsort((np.broadcast_to(np.arange(len(X)), exact.shape), exact), axis=1)
    np.testing.assert_array_equal(i, oracle[:, :45])
    d_brute, _ = search_kneighbors(Q, X, 45, algorithm="brute")
    np.testing.assert_array_equal(d, d_brute)


def test_ties_constant_columns_and_an_offset() -> None:
    """Integer grid points (many exact ties), two constant columns, and a large common offset
    under which brute force's uncentred float32 scores lose precision."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(9000, 16)).astype(np.float32)
    X[:, 3] = 7
    X[:, 11] = -2
    Q = rng.integers(0, 4, size=(101, 16)).astype(np.float32)  # odd: queries go in pairs
    Q[:, 3], Q[:, 11] = 7, -2
    _assert_same_as_brute(X, Q, 10)
    _assert_same_as_brute(X + 1000, Q + 1000, 3)


def test_k_near_the_number_of_references() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 14)).astype(np.float32) * np.geomspace(5, 0.2, 14)
    Q = rng.normal(size=(7, 14)).astype(np.float32)
    for k in (292, 300):
        _assert_same_as_brute(X, Q, k)


def test_noise_falls_back_to_brute_force() -> None:
    """On isotropic noise no 8 axes bound the distance: the screen gives up, the answer stays."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(9000, 32)).astype(np.float32)
    Q = rng.normal(size=(200, 32)).astype(np.float32)
    assert not _screen_used(X, Q, 3)
    _assert_same_as_brute(X, Q, 3)


def test_bound_never_falls_below_a_score_beyond_the_slack(digits30) -> None:
    """The kernel's marks: every reference whose score (float64) reaches τ is marked when the
    caller lowers τ by the slack, for τ at every rank."""
    X, Q = digits30
    refs = screened.ScreenedReferences(X)
    rotated = refs.rotate(Q[:2])
    size = screened._CHUNK
    head = refs.head[5]  # a chunk of references
    slots = np.arange(5 * size, 6 * size)
    points = refs.rows[slots, : X.shape[1]].astype(np.float64)
    scores = rotated.astype(np.float64) @ points.T - 0.5 * (points**2).sum(axis=1)  # (2, size)
    side = np.empty((2, screened.HEAD + 2), np.float32)
    side[:, : screened.HEAD] = rotated[:, : screened.HEAD]
    side[:, screened.HEAD] = np.linalg.norm(rotated[:, screened.HEAD :], axis=1)
    side[:, -1] = 1
    sq_norms = (rotated.astype(np.float64) ** 2).sum(axis=1)
    slacks = screened.SLACK * (sq_norms + refs.max_sq_norm)
    marks = np.zeros(2 * size, np.uint8)
    for rank in range(0, size, 5):
        taus = np.sort(scores, axis=1)[:, rank]
        screened._mark_pair(side, head, taus[0] - slacks[0], taus[1] - slacks[1], marks)
        for query in range(2):
            reached = scores[query] >= taus[query]
            assert marks[size * query : size * (query + 1)][reached].all()
    assert marks.sum() < 2 * size  # and the bound does rule references out


def test_added_references_are_found(digits30) -> None:
    X, Q = digits30
    y = np.arange(len(X)) % 10
    grown = KNNClassifier(3, algorithm="screened").fit(X[:6000], y[:6000])
    grown.add(X[6000:], y[6000:])
    whole = KNNClassifier(3, algorithm="brute").fit(X, y)
    d_grown, i_grown = grown.kneighbors(Q)
    d_whole, i_whole = whole.kneighbors(Q)
    np.testing.assert_array_equal(d_grown, d_whole)
    np.testing.assert_array_equal(i_grown, i_whole)


def test_screened_needs_euclidean() -> None:
    X = np.zeros((10, 20), np.float32)
    with pytest.raises(ValueError, match="algorithm='screened' needs the euclidean metric"):
        NeighborIndex(X, "manhattan", algorithm="screened")
