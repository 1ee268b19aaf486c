"""The pruned search against brute force and scikit-learn: same neighbours, same distances.

The bound it prunes by is checked on its own (never above the true distance), and so is its
retreat to brute force where the bound does not prune.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from knn_digits.neighbors import KNNClassifier, NeighborIndex, pruned, search_kneighbors


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def _assert_same_as_brute(X: np.ndarray, Q: np.ndarray, k: int, metric: str = "euclidean"):
    """Pruned and brute force agree: distances bit for bit, indices where no distances tie."""
    d_pruned, i_pruned = search_kneighbors(Q, X, k, metric=metric, algorithm="pruned")
    d_brute, i_brute = search_kneighbors(Q, X, k, metric=metric, algorithm="brute")
    np.testing.assert_array_equal(d_pruned, d_brute)
    for row, col in zip(*np.nonzero(i_pruned != i_brute), strict=True):
        # An index may differ only between references at exactly the same distance.
        every = _distances(Q[row], X, metric)
        assert every[i_pruned[row, col]] == every[i_brute[row, col]] == d_pruned[row, col]
    return d_pruned, i_pruned


def _distances(q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    """Exact distances from one query to every reference, as the index computes them."""
    index = NeighborIndex(X, metric, algorithm="brute")  # type: ignore[arg-type]
    q32 = q.astype(np.float32)[None]
    return index._exact_distances(q32, np.arange(len(X))[None])[0]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_mnist_subset_matches_brute_force_and_sklearn(mnist_train, mnist_test, metric, k) -> None:
    X = _flat(mnist_train[0][:3000])
    Q = _flat(mnist_test[0][:150])
    d, i = _assert_same_as_brute(X, Q, k, metric)
    oracle = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric)
    d_ref, i_ref = oracle.fit(X.astype(np.float64)).kneighbors(Q.astype(np.float64))
    np.testing.assert_allclose(d, d_ref, rtol=1e-6, atol=1e-6)
    assert (i == i_ref).mean() > 0.99  # the rest are ties (checked against brute force above)


def test_auto_prunes_digits_and_not_small_features(mnist_train) -> None:
    X = _flat(mnist_train[0][:2000])
    assert NeighborIndex(X)._bound is not None  # 784 features, 2,000 references
    assert NeighborIndex(X[:, :100])._bound is None  # below MIN_FEATURES: brute force
    assert NeighborIndex(X, "manhattan")._bound is None
    with pytest.raises(ValueError, match="euclidean or cosine"):
        NeighborIndex(X, "manhattan", algorithm="pruned")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        NeighborIndex(X, algorithm="kd_tree")  # type: ignore[arg-type]


CASES = ["duplicates", "ties", "constant columns", "offset", "zero rows", "k near n"]


# Not cosine with an offset: there all cosine distances are ~1e-7, below the resolution of
# float32 unit vectors, so no float32 method can rank them.
@pytest.mark.parametrize(
    ("case", "metric"),
    [(case, "euclidean") for case in CASES]
    + [(case, "cosine") for case in CASES if case != "offset"],
)
def test_adversarial_data_matches_brute_force(case: str, metric: str) -> None:
    rng = np.random.default_rng(7)
    # Low-rank data plus noise: the kind of data the bound prunes, so pruning really runs.
    X = rng.normal(size=(1500, 6)) @ rng.normal(size=(6, 40)) + 0.05 * rng.normal(size=(1500, 40))
    Q = X[:60] + 0.01 * rng.normal(size=(60, 40))
    k = 5
    if case == "duplicates":  # 30 copies of one row, which is also a query
        X[100:130] = X[99]
        Q[0] = X[99]
        k = 12
    elif case == "ties":  # integer grid: many references at exactly the same distance
        X, Q = np.round(X), np.round(Q)
    elif case == "constant columns":
        X[:, ::3] = 2.5
        Q[:, ::3] = 2.5
    elif case == "offset":  # a large common offset: centring must not lose the small part
        X, Q = X + 1000.0, Q + 1000.0
    elif case == "zero rows":
        X[::50] = 0.0
        Q[::7] = 0.0
    elif case == "k near n":
        X, k = X[:40], 39
    if case == "offset":
        # Brute force's float32 scores q·r − ½‖r‖² lose the small part under the offset (they
        # pick wrong candidates here); the pruned search centres the data and does not.
        d, i = search_kneighbors(Q, X, k, metric=metric, algorithm="pruned")
    else:
        d, i = _assert_same_as_brute(X, Q, k, metric)
    for row in range(len(Q)):  # the oracle: every exact distance, sorted
        every = _distances(Q[row], X, metric)
        np.testing.assert_array_equal(d[row], np.sort(every)[:k])
        np.testing.assert_array_equal(every[i[row]], d[row])
    if case == "duplicates":  # all the copies found, nearest first, at distance 0
        assert d[0, :12].max() == 0.0
        assert set(i[0]) <= set(range(99, 130))


def test_k_beyond_the_first_candidates_cells_matches_brute_force(mnist_train) -> None:
    """Step 1 takes its first candidates from the query's 4 nearest cells; when k is larger
    than they hold, the lists start part-empty and step 2 must fill them (the empty slots,
    index -1, must not be read as the last reference: the last query is that reference)."""
    X = _flat(mnist_train[0][:1500]).astype(np.float32)
    Q = X[-30:]
    index = NeighborIndex(X, algorithm="pruned")
    assert index._bound is not None
    k = 1000
    bound = index._bound
    heads = bound.query_side(Q).side[:, : bound.head]
    _, first = bound.cells.search_block(heads, k + 8, pruned.SEED_PROBES)
    assert (first < 0).any(axis=1).all()  # every query's cells hold fewer than k + 8
    _assert_same_as_brute(X, Q, k)


def test_bound_is_never_above_the_true_distance(mnist_train) -> None:
    """Property: for random and digit pairs, every level's bound ≤ the exact squared distance."""
    rng = np.random.default_rng(3)
    digits = _flat(mnist_train[0][:2000]).astype(np.float32)
    low_rank = (rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 300))).astype(np.float32)
    noise = rng.normal(size=(2000, 300)).astype(np.float32)
    for X in (digits, low_rank, noise):
        bound = pruned.RotationBound(X[:1500], head=16, cosine=False)
        Q = X[1500:]
        block = bound.query_side(Q)
        R = X[:1500]
        true = ((Q.astype(np.float64)[:, None] - R[None]) ** 2).sum(axis=2)  # (500, 1500)
        h = bound.head
        heads = (block.side[:, :h].astype(np.float64)[:, None] - bound.reference_side[:, :h]) ** 2
        partial = heads.sum(axis=2)
        n_levels = (bound.reference_steps.shape[1] - 1) // (h + 1)
        slack = block.slacks[:, None]  # what the search allows for float32 rounding
        for level in range(n_levels + 1):
            gap = block.steps[:, level][:, None] - bound.reference_steps[:, level][None]
            assert np.all(partial + gap.astype(np.float64) ** 2 <= true + slack)
            if level < n_levels:
                cols = slice(n_levels + 1 + level * h, n_levels + 1 + (level + 1) * h)
                diff = block.steps[:, cols][:, None] - bound.reference_steps[:, cols][None]
                partial = partial + (diff.astype(np.float64) ** 2).sum(axis=2)
        # The product form the search compares first, computed in float32 as it is there.
        scores = (block.side @ bound.reference_side.T).astype(np.float64)
        assert np.all(block.sq_norms[:, None] - 2 * scores <= true + slack)
        # And it is a useful bound: the whole rotation loses no distance.
        assert np.allclose(partial[true > 0].max() / true.max(), partial.max() / true.max())


def test_noise_falls_back_to_brute_force_with_the_same_answers() -> None:
    """Random noise has no few axes that hold its variance: the bound can't prune."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4000, 300)).astype(np.float32)
    Q = rng.normal(size=(50, 300)).astype(np.float32)
    index = NeighborIndex(X, algorithm="pruned")
    assert index._bound is not None
    points = index._points(Q)
    assert pruned.search_block(index._bound, X, points, 3, 11, 2048) is None  # gives up
    _assert_same_as_brute(X, Q, 3)


def test_digits_prune_most_references(mnist_train, mnist_test) -> None:
    """On digits few references pass the product's bound (else the speed-up is luck)."""
    X = _flat(mnist_train[0][:6000]).astype(np.float32)
    Q = _flat(mnist_test[0][:100]).astype(np.float32)
    index = NeighborIndex(X, algorithm="pruned")
    assert index._bound is not None
    passed = []
    original = pruned._visit_survivors

    def counting(*args):  # type: ignore[no-untyped-def]
        passed.append(original(*args))
        return passed[-1]

    pruned._visit_survivors = counting
    try:
        assert pruned.search_block(index._bound, X, Q, 3, 11, 2048) is not None
    finally:
        pruned._visit_survivors = original
    assert sum(passed) / len(Q) < 0.02 * len(X)  # under 2 % of the references


def test_add_keeps_the_axes_and_the_answers(mnist_train, mnist_test) -> None:
    X, y = _flat(mnist_train[0][:2500]), mnist_train[1][:2500]
    Q = _flat(mnist_test[0][:80])
    grown = KNNClassifier(3, algorithm="pruned").fit(X[:2000], y[:2000])
    axes = grown._index._bound.axes.copy()
    grown.add(X[2000:], y[2000:])
    np.testing.assert_array_equal(grown._index._bound.axes, axes)
    whole = KNNClassifier(3, algorithm="brute").fit(X, y)
    d_grown, i_grown = grown.kneighbors(Q)
    d_whole, i_whole = whole.kneighbors(Q)
    np.testing.assert_array_equal(d_grown, d_whole)
    np.testing.assert_array_equal(i_grown, i_whole)
    np.testing.assert_array_equal(grown.predict(Q), whole.predict(Q))


@pytest.mark.parametrize("budget", [0.05, 1, 512])
def test_results_do_not_depend_on_blocks(mnist_train, budget: float) -> None:
    X, Q = _flat(mnist_train[0][:3000]), _flat(mnist_train[0][3000:3100])
    reference = search_kneighbors(Q, X, 7, algorithm="brute")
    blocks = search_kneighbors(Q, X, 7, algorithm="pruned", memory_budget_mb=budget)
    np.testing.assert_array_equal(blocks[0], reference[0])
    np.testing.assert_array_equal(blocks[1], reference[1])
