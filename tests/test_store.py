"""SampleStore: round trips through SQLite and IDX, persistence, the location rules."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from knn_digits.datasets import read_idx
from knn_digits.store import SCHEMA_VERSION, STORE_FILENAME, SampleStore, default_store_path


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


# ------------------------------------------------------------------ visitors


def test_each_visitor_sees_only_their_own_samples(store: SampleStore, tmp_path: Path) -> None:
    alice, bob = store.for_visitor("a" * 64), store.for_visitor("b" * 64)
    owner_id = store.add(random_digits(1)[0], 1)
    alice_ids = [alice.add(digit, 2) for digit in random_digits(2, seed=1)]
    bob_id = bob.add(random_digits(1, seed=2)[0], 3)
    assert [s.id for s in store.samples()] == [owner_id] and len(store) == 1
    assert [s.id for s in alice.samples()] == alice_ids and len(alice) == 2
    assert [s.id for s in bob.samples()] == [bob_id] and alice.arrays()[1].tolist() == [2, 2]
    assert store.count_all() == alice.count_all() == 4
    # Nobody deletes another's sample, the owner included; each deletes their own.
    assert not bob.delete(alice_ids[0]) and not store.delete(alice_ids[0])
    assert not alice.delete(owner_id) and not alice.delete(bob_id)
    assert alice.delete(alice_ids[0]) and [s.id for s in alice.samples()] == alice_ids[1:]
    assert not alice.delete(0) and not alice.delete(-1) and not alice.delete(10**30)
    # Exports hold one's own samples only.
    _, label_path = bob.export_idx(tmp_path / "bob")
    assert read_idx(label_path).tolist() == [3]


def test_each_visitor_has_their_own_switch(store: SampleStore) -> None:
    alice, bob = store.for_visitor("a" * 64), store.for_visitor("b" * 64)
    alice.enabled = False
    assert alice.enabled is False and bob.enabled is True and store.enabled is True
    store.enabled = False
    assert bob.enabled is True and SampleStore(store.path).for_visitor("a" * 64).enabled is False


def test_the_owner_key_is_not_a_visitor_key(store: SampleStore) -> None:
    with pytest.raises(ValueError, match="owner"):
        store.for_visitor("")


# Today's schema before visitors existed (version 1), exactly as earlier releases created it.
_VERSION_1 = """
CREATE TABLE samples (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    label   INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image   BLOB    NOT NULL CHECK (length(image) = 784),
    created TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def test_a_version_1_store_is_migrated_and_its_samples_stay_the_owners(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    digits = random_digits(3)
    with closing(sqlite3.connect(path)) as db:
        db.executescript(_VERSION_1)
        db.executemany(
            "INSERT INTO samples (label, image) VALUES (?, ?)",
            [(label, digit.tobytes()) for digit, label in zip(digits, (7, 1, 7), strict=True)],
        )
        db.execute("INSERT INTO settings VALUES ('enabled', '0')")
        db.commit()
    store = SampleStore(path)
    images, labels = store.arrays()
    np.testing.assert_array_equal(images, digits)
    assert labels.tolist() == [7, 1, 7] and store.enabled is False
    assert len(store.for_visitor("c" * 64)) == 0 and store.for_visitor("c" * 64).enabled
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = [row[1] for row in db.execute("PRAGMA index_list(samples)")]
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM samples WHERE visitor = ? ORDER BY id", ("c",)
        ).fetchall()
    assert "samples_by_visitor" in indexes and "samples_by_visitor" in str(plan)
    # Opening again changes nothing, and new samples get ids after the old ones.
    assert SampleStore(path).add(digits[0], 2) == 4 and len(SampleStore(path)) == 4


def test_what_was_stored_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite3"
    # A process stores samples for two people, then is killed outright, mid-life.
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from knn_digits.store import SampleStore
        store = SampleStore({str(path)!r})
        for i in range(20):
            store.add(np.full((28, 28), i, np.uint8), i % 10)
            store.for_visitor("d" * 64).add(np.full((28, 28), i, np.uint8), 9)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()
    store = SampleStore(path)
    assert len(store) == 20 and len(store.for_visitor("d" * 64)) == 20
    assert [p.name for p in tmp_path.iterdir()] == ["killed.sqlite3"]  # one file, no journal
