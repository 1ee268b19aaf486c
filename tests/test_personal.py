"""PersonalModel: the shared model plus one person's digits answers exactly as the shared model
with those digits added would, and leaves the shared model as it was."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.models import PRESETS, DigitModel
from knn_digits.personal import Joined, PersonalModel

N_SHARED = 3000


@pytest.fixture(scope="module")
def digits(mnist_train: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    images, labels = mnist_train
    rng = np.random.default_rng(0)
    own = rng.choice(np.arange(50_000, 60_000), 40, replace=False)
    queries = rng.choice(np.arange(40_000, 50_000), 40, replace=False)
    return {
        "shared_images": images[:N_SHARED],
        "shared_labels": labels[:N_SHARED],
        "own_images": images[own],
        # Wrong on purpose (label + 1): a person's digits must visibly change the answers.
        "own_labels": (labels[own].astype(np.int64) + 1) % 10,
        # Queries: the person's digits themselves (exact matches) and fresh ones.
        "queries": np.concatenate([images[own[:10]], images[queries]]),
    }


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_same_answers_as_the_shared_model_with_the_digits_added(
    digits: dict[str, np.ndarray], preset: str
) -> None:
    shared = DigitModel(preset).fit(digits["shared_images"], digits["shared_labels"])
    oracle = DigitModel(preset).fit(digits["shared_images"], digits["shared_labels"])
    mine = PersonalModel(shared)
    # Added in two steps, as a person teaches one digit after another.
    for part in (slice(0, 25), slice(25, None)):
        mine.add(digits["own_images"][part], digits["own_labels"][part])
        oracle.add(digits["own_images"][part], digits["own_labels"][part])

    proba, distances, indices = mine.explain(digits["queries"])
    expected_proba, expected_distances, expected_indices = oracle.explain(digits["queries"])
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(distances, expected_distances, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(proba, expected_proba, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(
        mine.predict(digits["queries"]), oracle.predict(digits["queries"])
    )
    # The person's own digits come back with their (deliberately wrong) labels.
    assert (mine.predict(digits["own_images"][:10]) == digits["own_labels"][:10]).all()
    np.testing.assert_array_equal(
        mine.train_images_[indices], np.asarray(oracle.train_images_)[indices]
    )


def test_the_shared_model_is_left_as_it_was(digits: dict[str, np.ndarray]) -> None:
    shared = DigitModel("fast").fit(digits["shared_images"], digits["shared_labels"])
    before = shared.explain(digits["queries"])
    mine = PersonalModel(shared).add(digits["own_images"], digits["own_labels"])
    assert mine.n_own == 40 and len(mine.train_labels_) == N_SHARED + 40
    assert len(shared.train_labels_) == N_SHARED and len(shared.train_images_) == N_SHARED
    after = shared.explain(digits["queries"])
    for was, now in zip(before, after, strict=True):
        np.testing.assert_array_equal(was, now)
    # Another person on the same shared model sees none of the first one's digits.
    other = PersonalModel(shared)
    np.testing.assert_array_equal(
        other.predict(digits["queries"]), shared.predict(digits["queries"])
    )


def test_without_own_digits_it_is_the_shared_model(digits: dict[str, np.ndarray]) -> None:
    shared = DigitModel("raw").fit(digits["shared_images"], digits["shared_labels"])
    mine = PersonalModel(shared)
    for ours, theirs in zip(
        mine.explain(digits["queries"]), shared.explain(digits["queries"]), strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)


def test_joined_gathers_rows_from_both_arrays() -> None:
    first, second = np.arange(6).reshape(3, 2), np.arange(100, 104).reshape(2, 2)
    joined = Joined(first, second)
    assert len(joined) == 5
    np.testing.assert_array_equal(joined[np.array([[4, 0], [2, 3]])][..., 0], [[102, 0], [4, 100]])
    np.testing.assert_array_equal(np.asarray(joined), np.concatenate([first, second]))
