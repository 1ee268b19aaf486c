"""People's own labelled digits, kept in SQLite so they survive restarts.

When the app gets a drawing wrong, its author can teach the right digit. The sample is stored
here as the 28×28 image the model saw (784 bytes) with its label; the app adds it to the model
at once, and again at every start. Samples can be listed, deleted, exported as IDX (MNIST's own
format) and switched off as a whole. SQLite because it is one file, needs no server, and takes
concurrent writers from the app's worker threads safely.

Where the file lives: ``--store PATH`` beats ``$KNN_DIGITS_HOME/samples.sqlite3`` beats the
per-user data directory (``platformdirs``). This module never imports gradio.

>>> import tempfile, numpy as np
>>> store = SampleStore(tempfile.mkdtemp() + "/samples.sqlite3")
>>> store.add(np.zeros((28, 28), np.uint8), 7)
1
>>> images, labels = store.arrays()
>>> images.shape, labels.tolist()
((1, 28, 28), [7])
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knn_digits.datasets import write_idx
from knn_digits.paths import data_home

__all__ = ["STORE_FILENAME", "Sample", "SampleStore", "default_store_path"]

STORE_FILENAME = "samples.sqlite3"
_SHAPE = (28, 28)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    label   INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image   BLOB    NOT NULL CHECK (length(image) = 784),
    created TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def default_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the samples live: ``path`` if given, else ``$KNN_DIGITS_HOME``, else user data."""
    if path is not None:
        return Path(path)
    return data_home() / STORE_FILENAME


@dataclass(frozen=True)
class Sample:
    """One taught digit: ``image`` is uint8 of shape (28, 28), ink high."""

    id: int
    label: int
    image: np.ndarray
    created: str


def _as_digit(image: np.ndarray) -> np.ndarray:
    """A (28, 28) digit as uint8 0–255, from uint8 or float in [0, 1]."""
    array = np.asarray(image)
    if array.shape != _SHAPE:
        raise ValueError(f"expected a digit of shape (28, 28), got {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected a uint8 or float digit, got dtype {array.dtype}")
    return np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)


class SampleStore:
    """A SQLite file of labelled 28×28 digits, plus whether they are switched on.

    Every call opens its own short connection, so one store can be shared by threads.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # SQLite serialises writers too; this avoids busy waits
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SampleStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30)
            try:
                with db:  # commits, or rolls back on an exception
                    yield db
            finally:
                db.close()

    def add(self, image: np.ndarray, label: int) -> int:
        """Store a digit (28, 28), uint8 or float in [0, 1], with its label 0–9; returns its id."""
        if not 0 <= int(label) <= 9 or int(label) != label:
            raise ValueError(f"a label must be a digit 0–9, got {label!r}")
        data = _as_digit(image).tobytes()
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO samples (label, image) VALUES (?, ?)", (int(label), data)
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def samples(self) -> list[Sample]:
        """Every stored sample, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, label, image, created FROM samples ORDER BY id"
            ).fetchall()
        return [
            Sample(id, label, np.frombuffer(image, np.uint8).reshape(_SHAPE), created)
            for id, label, image, created in rows
        ]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as MNIST does: images uint8 (n, 28, 28) and labels uint8 (n,)."""
        samples = self.samples()
        images = np.array([s.image for s in samples], np.uint8).reshape(-1, *_SHAPE)
        return images, np.array([s.label for s in samples], np.uint8)

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def delete(self, sample_id: int) -> bool:
        """Delete one sample; False if there was none with that id."""
        with self._connect() as db:
            return db.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),)).rowcount > 0

    @property
    def enabled(self) -> bool:
        """Whether the samples should be added to the model (on unless switched off)."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'enabled'").fetchone()
        return row is None or row[0] == "1"

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES ('enabled', ?)",
                ("1" if value else "0",),
            )

    def export_idx(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write the samples as two IDX files, like MNIST's; returns (images path, labels path).

        ``knn_digits.read_idx`` (or any MNIST reader) reads them back.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        images, labels = self.arrays()
        image_path = directory / "samples-images-idx3-ubyte"
        label_path = directory / "samples-labels-idx1-ubyte"
        write_idx(image_path, images)
        write_idx(label_path, labels)
        return image_path, label_path
