"""SampleStore: round trips through SQLite and IDX, persistence, the location rules."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from knn_digits.datasets import read_idx
from knn_digits.store import STORE_FILENAME, SampleStore, default_store_path


@pytest.fixture
def store(tmp_path: Path) -> SampleStore:
    return SampleStore(tmp_path / "nested" / "samples.sqlite3")


def random_digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_add_and_read_back_exactly(store: SampleStore) -> None:
    digits = random_digits(3)
    ids = [store.add(digit, label) for digit, label in zip(digits, (4, 0, 9), strict=True)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    images, labels = store.arrays()
    np.testing.assert_array_equal(images, digits)
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert labels.tolist() == [4, 0, 9]
    assert [s.id for s in store.samples()] == ids
    assert all(s.created.endswith("Z") for s in store.samples())
    assert len(store) == 3


def test_float_digits_are_quantised_like_the_model_does(store: SampleStore) -> None:
    digit = np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28)
    store.add(digit, 1)
    (image,), _ = store.arrays()
    np.testing.assert_array_equal(image, np.rint(digit * 255).astype(np.uint8))


def test_empty_store_gives_empty_arrays_of_the_right_shape(store: SampleStore) -> None:
    images, labels = store.arrays()
    assert images.shape == (0, 28, 28) and labels.shape == (0,)
    assert len(store) == 0


def test_samples_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    digit = random_digits(1)[0]
    SampleStore(path).add(digit, 5)
    reopened = SampleStore(path)
    images, labels = reopened.arrays()
    np.testing.assert_array_equal(images[0], digit)
    assert labels.tolist() == [5]


def test_delete(store: SampleStore) -> None:
    first = store.add(random_digits(1)[0], 1)
    second = store.add(random_digits(1, seed=1)[0], 2)
    assert store.delete(first) is True
    assert store.delete(first) is False
    assert [s.id for s in store.samples()] == [second]


def test_switching_off_persists(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SampleStore(path)
    assert store.enabled is True
    store.enabled = False
    assert SampleStore(path).enabled is False
    store.enabled = True
    assert SampleStore(path).enabled is True


@pytest.mark.parametrize("label", [-1, 10, 2.5, "7"])
def test_bad_labels_are_refused(store: SampleStore, label: object) -> None:
    with pytest.raises(ValueError, match="0–9"):
        store.add(random_digits(1)[0], label)  # type: ignore[arg-type]
    assert len(store) == 0


def test_bad_shapes_are_refused(store: SampleStore) -> None:
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        store.add(np.zeros((20, 20), np.uint8), 1)


def test_the_database_enforces_its_own_constraints(store: SampleStore) -> None:
    # Another program writing to the file can't store a bad label or a wrong-sized image.
    with closing(sqlite3.connect(store.path)) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO samples (label, image) VALUES (3, ?)", (b"\0" * 10,))
    with closing(sqlite3.connect(store.path)) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO samples (label, image) VALUES (12, ?)", (b"\0" * 784,))


def test_export_idx_round_trip(store: SampleStore, tmp_path: Path) -> None:
    digits = random_digits(4)
    for digit, label in zip(digits, (3, 1, 4, 1), strict=True):
        store.add(digit, label)
    image_path, label_path = store.export_idx(tmp_path / "export")
    np.testing.assert_array_equal(read_idx(image_path), digits)
    np.testing.assert_array_equal(read_idx(label_path), np.array([3, 1, 4, 1], np.uint8))


def test_concurrent_writers_lose_nothing(store: SampleStore) -> None:
    digits = random_digits(40)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: store.add(digits[i], i % 10), range(40)))
    assert len(set(ids)) == 40 and len(store) == 40


def test_store_location_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNN_DIGITS_HOME", str(tmp_path / "home"))
    assert default_store_path(tmp_path / "x.db") == tmp_path / "x.db"
    assert default_store_path() == tmp_path / "home" / STORE_FILENAME
    monkeypatch.delenv("KNN_DIGITS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "knn-digits" / STORE_FILENAME
