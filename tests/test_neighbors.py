"""Our k-NN against scikit-learn's brute force, plus invariances and argument checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from knn_digits.neighbors import KNNClassifier, break_ties, search_kneighbors, vote

METRICS = [("euclidean", 2), ("manhattan", 1), ("cosine", 2), ("minkowski", 3)]


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def _vote_is_tied(model: KNNClassifier, X: np.ndarray) -> np.ndarray:
    """Rows whose top vote is shared by several classes (there, rules may legitimately differ)."""
    proba = model.predict_proba(X)
    return (np.isclose(proba, proba.max(axis=1, keepdims=True))).sum(axis=1) > 1


def _assert_same_neighbours(ours, theirs, rtol: float = 1e-6) -> None:
    """Same neighbours and distances, allowing index swaps only between equal distances."""
    (d, i), (d_ref, i_ref) = ours, theirs
    np.testing.assert_allclose(d, d_ref, rtol=rtol, atol=1e-6)
    differ = i != i_ref
    # Where indices differ, the distances must be tied in the oracle's own list.
    for row, col in zip(*np.nonzero(differ), strict=True):
        assert np.isclose(d_ref[row], d[row, col], rtol=1e-6).sum() > 1


@pytest.mark.parametrize(("metric", "p"), METRICS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_matches_sklearn_on_random_data(metric: str, p: float, weights: str) -> None:
    rng = np.random.default_rng(42)
    X, y = rng.normal(size=(700, 20)), rng.integers(0, 4, size=700)
    Q = rng.normal(size=(150, 20))
    ours = KNNClassifier(5, metric=metric, p=p, weights=weights).fit(X, y)  # type: ignore[arg-type]
    theirs = KNeighborsClassifier(5, algorithm="brute", metric=metric, p=p, weights=weights)
    theirs.fit(X, y)
    _assert_same_neighbours(ours.kneighbors(Q), theirs.kneighbors(Q))
    np.testing.assert_allclose(ours.predict_proba(Q), theirs.predict_proba(Q), atol=1e-6)
    agree = ours.predict(Q) == theirs.predict(Q)
    assert np.all(agree | _vote_is_tied(ours, Q))


@pytest.mark.parametrize(("metric", "p"), METRICS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_matches_sklearn_on_mnist_subset(mnist_train, mnist_test, metric, p, weights) -> None:
    n_train = 2000 if metric in ("euclidean", "cosine") else 600  # Lp has no BLAS form: slower
    X, y = _flat(mnist_train[0][:n_train]), mnist_train[1][:n_train]
    Q = _flat(mnist_test[0][:200])
    ours = KNNClassifier(4, metric=metric, p=p, weights=weights).fit(X, y)
    theirs = KNeighborsClassifier(4, algorithm="brute", metric=metric, p=p, weights=weights)
    theirs.fit(X.astype(np.float64), y)
    _assert_same_neighbours(ours.kneighbors(Q), theirs.kneighbors(Q.astype(np.float64)))
    agree = ours.predict(Q) == theirs.predict(Q.astype(np.float64))
    tied = _vote_is_tied(ours, Q)
    assert np.all(agree | tied)
    if weights == "uniform":  # with k=4 some 2–2 votes must occur, or the check proves little
        assert tied.any()


def test_uint8_does_not_overflow(mnist_train) -> None:
    X = _flat(mnist_train[0][:500])
    d_uint8, i_uint8 = search_kneighbors(X[:20], X, 3)
    d_float, i_float = search_kneighbors(X[:20].astype(np.float64), X.astype(np.float64), 3)
    np.testing.assert_array_equal(i_uint8, i_float)
    np.testing.assert_allclose(d_uint8, d_float)
    assert np.all(d_uint8[:, 0] == 0)  # each query finds itself, at distance exactly 0


@pytest.mark.parametrize(("metric", "p"), METRICS)
def test_results_do_not_depend_on_the_memory_budget(mnist_train, metric, p) -> None:
    """3,000 references: a full tile of 2,048 and a partial one; 1 query per block or all."""
    X, Q = _flat(mnist_train[0][:3000]), _flat(mnist_train[0][3000:3100])
    big = search_kneighbors(Q, X, 7, metric=metric, p=p, memory_budget_mb=512)
    tiny = search_kneighbors(Q, X, 7, metric=metric, p=p, memory_budget_mb=0.02)
    np.testing.assert_array_equal(big[1], tiny[1])
    np.testing.assert_array_equal(big[0], tiny[0])


def test_block_selection_is_exact_on_adversarial_rows() -> None:
    """Many neighbours in one block, ties and a reference count not divisible by the block."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 8))
    X[200:210] = 0.001 * rng.normal(size=(10, 8))  # ten near-duplicates of the query, one block
    Q = np.zeros((3, 8))
    d, i = search_kneighbors(Q, X, 12)
    brute = np.sqrt(((X[None] - Q[:, None]) ** 2).sum(axis=2))
    np.testing.assert_allclose(d, np.sort(brute, axis=1)[:, :12], rtol=1e-5)
    assert set(range(200, 210)) <= set(i[0].tolist())


def test_distance_weights_give_exact_matches_all_the_weight() -> None:
    X = np.array([[0.0], [0.0], [1.0], [1.1]])
    y = np.array([5, 5, 7, 7])
    model = KNNClassifier(4, weights="distance").fit(X, y)
    with np.errstate(all="raise"):
        proba = model.predict_proba([[0.0], [1.05]])
    np.testing.assert_allclose(proba[0], [1.0, 0.0])
    assert model.predict([[0.0]]).tolist() == [5]


def test_ties_go_to_the_nearest_neighbour_not_the_smallest_label() -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([9, 1, 9, 1])
    model = KNNClassifier(4).fit(X, y)  # 2 votes each: the nearest neighbour decides
    assert model.predict([[-0.1], [3.1]]).tolist() == [9, 1]
    shuffled = KNNClassifier(4).fit(X[::-1], y[::-1])  # training order plays no part
    assert shuffled.predict([[-0.1], [3.1]]).tolist() == [9, 1]


def test_vote_and_tie_rule_by_hand() -> None:
    votes = vote(np.array([[1.0, 2.0, 3.0]]), np.array([[2, 0, 0]]), 3, "uniform")
    assert votes.tolist() == [[2.0, 0.0, 1.0]]
    assert break_ties(np.array([[1.0, 0.0, 1.0]]), np.array([[2, 0, 1]])).tolist() == [2]


def test_string_labels_and_add(mnist_train) -> None:
    X, y = _flat(mnist_train[0][:300]), mnist_train[1][:300]
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )[y]
    model = KNNClassifier(1).fit(X, names)
    assert model.predict(X[:5]).tolist() == names[:5].tolist()
    new = np.full((1, 784), 255, dtype=np.uint8)
    model.add(new, ["blob"])
    assert model.n_samples_fit_ == 301 and "blob" in model.classes_
    assert model.predict(new).tolist() == ["blob"]


def test_save_load_round_trip(tmp_path: Path, mnist_train) -> None:
    X, y = _flat(mnist_train[0][:500]), mnist_train[1][:500]
    model = KNNClassifier(3, metric="minkowski", p=3, weights="distance").fit(X, y)
    model.save(tmp_path / "model.npz")
    loaded = KNNClassifier.load(tmp_path / "model.npz")
    assert loaded.get_params() == model.get_params()
    Q = _flat(mnist_train[0][500:600])
    np.testing.assert_array_equal(loaded.predict_proba(Q), model.predict_proba(Q))


def test_load_rejects_non_model(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a saved KNNClassifier"):
        KNNClassifier.load(tmp_path / "x.npz")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: KNNClassifier(0).fit([[0.0], [1.0]], [0, 1]), "at least 1"),
        (lambda: KNNClassifier(3).fit([[0.0], [1.0]], [0, 1]), "got 2 samples"),
        (lambda: KNNClassifier(1).fit([0.0, 1.0], [0, 1]), "must be 2-D"),
        (lambda: KNNClassifier(1).fit(np.zeros((2, 2, 2)), [0, 1]), "flatten"),
        (lambda: KNNClassifier(1).fit([[np.nan], [1.0]], [0, 1]), "NaN"),
        (lambda: KNNClassifier(1).fit([[0.0], [1.0]], [0, 1, 2]), "2 samples but y has 3"),
        (lambda: KNNClassifier(1).predict([[0.0]]), "not fitted"),
        (
            lambda: KNNClassifier(1).fit([[0.0], [1.0]], [0, 1]).predict([[0.0, 1.0]]),
            "KNNClassifier is expecting 1 features",
        ),
        (lambda: KNNClassifier(1, metric="hamming").fit([[0.0]], [0]), "metric must be"),  # type: ignore[arg-type]
        (lambda: KNNClassifier(1, weights="gaussian").fit([[0.0]], [0]), "weights must be"),  # type: ignore[arg-type]
        (lambda: KNNClassifier(1, metric="minkowski", p=0.5).fit([[0.0]], [0]), "p must be"),
        (lambda: KNNClassifier(1).fit([["a"]], [0]), "real numbers"),
        (lambda: KNNClassifier(1).fit([[0.0], [1.0]], None), "y is None"),
        (lambda: KNNClassifier(1).fit([[0.0], [1.0]], [0.5, 1.0]), "continuous"),
    ],
)
def test_bad_arguments_explain_the_fix(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.slow
def test_full_mnist_raw_pixels_reproduce_published_errors(mnist_train, mnist_test) -> None:
    """3.09 % at k=1 (LeCun's table) and 2.83 % at k=3 with our tie rule."""
    X, y = _flat(mnist_train[0]), mnist_train[1]
    Q, truth = _flat(mnist_test[0]), mnist_test[1]
    model = KNNClassifier(3).fit(X, y)
    distances, indices = model.kneighbors(Q)
    k1_error = np.mean(y[indices[:, 0]] != truth)
    k3_error = np.mean(model.predict(Q) != truth)
    assert round(100 * k1_error, 2) == 3.09
    assert round(100 * k3_error, 2) == 2.83
