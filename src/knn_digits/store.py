"""People's own labelled digits, kept in SQLite so they survive restarts.

When the app gets a drawing wrong, its author can teach the right digit. The sample is stored
here as the 28×28 image the model saw (784 bytes) with its label; the app adds it to the model
at once, and again at every start. Samples can be listed, deleted, exported as IDX (MNIST's own
format) and switched off as a whole. SQLite because it is one file, needs no server, and takes
concurrent writers from the app's worker threads safely; every change is one transaction in the
default rollback journal, so a store survives ``kill -9`` with all it had committed.

Each sample belongs to someone: the owner (``visitor = ''``: the person who runs the app on
their own machine, and every sample stored before visitors existed) or one visitor of a public
app, known by a key (a hash of the visitor's random token, never the token itself).
``SampleStore(path)`` is the owner's view; ``store.for_visitor(key)`` is one visitor's view of
the same file, where listing, counting, deleting, exporting and the on/off switch are theirs
alone.

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

import copy
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

__all__ = ["OWNER", "STORE_FILENAME", "Sample", "SampleStore", "default_store_path"]

STORE_FILENAME = "samples.sqlite3"
_SHAPE = (28, 28)
OWNER = ""  # the visitor key of the owner's samples
# Version 1 had no visitor column; version 2 adds it (existing samples become the owner's) and
# an index, so one visitor's samples are found without reading everyone's.
SCHEMA_VERSION = 2
_TABLES = (
    """CREATE TABLE IF NOT EXISTS samples (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    label   INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image   BLOB    NOT NULL CHECK (length(image) = 784),
    created TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    visitor TEXT    NOT NULL DEFAULT ''
)""",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_INDEX = "CREATE INDEX IF NOT EXISTS samples_by_visitor ON samples (visitor, id)"


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
    """A SQLite file of labelled 28×28 digits, plus whether they are switched on: one person's
    view of it (the owner's, unless made with :meth:`for_visitor`).

    Every call opens its own short connection, so one store can be shared by threads.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.visitor = OWNER
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # SQLite serialises writers too; this avoids busy waits
        with self._connect() as db:
            _migrate(db)

    def __repr__(self) -> str:
        who = "" if self.visitor == OWNER else f", visitor={self.visitor[:8]}…"
        return f"SampleStore({str(self.path)!r}{who})"

    def for_visitor(self, visitor: str) -> SampleStore:
        """The same file as seen by one visitor (a non-empty key): only their samples."""
        if not visitor:
            raise ValueError("a visitor key must not be empty (the empty key is the owner's)")
        view = copy.copy(self)  # the same path and lock
        view.visitor = visitor
        return view

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
                "INSERT INTO samples (label, image, visitor) VALUES (?, ?, ?)",
                (int(label), data, self.visitor),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def samples(self) -> list[Sample]:
        """Every sample of this view's person, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, label, image, created FROM samples WHERE visitor = ? ORDER BY id",
                (self.visitor,),
            ).fetchall()
        return [
            Sample(id, label, np.frombuffer(image, np.uint8).reshape(_SHAPE), created)
            for id, label, image, created in rows
        ]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """This person's samples as MNIST does: images uint8 (n, 28, 28) and labels uint8 (n,)."""
        samples = self.samples()
        images = np.array([s.image for s in samples], np.uint8).reshape(-1, *_SHAPE)
        return images, np.array([s.label for s in samples], np.uint8)

    def __len__(self) -> int:
        """How many samples this person has."""
        with self._connect() as db:
            query = "SELECT count(*) FROM samples WHERE visitor = ?"
            return int(db.execute(query, (self.visitor,)).fetchone()[0])

    def count_all(self) -> int:
        """How many samples the file holds, everyone's."""
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def delete(self, sample_id: int) -> bool:
        """Delete one of this person's samples; False if they have none with that id."""
        if not 0 < sample_id < 2**63:  # SQLite's ids; a bigger number would not even bind
            return False
        with self._connect() as db:
            query = "DELETE FROM samples WHERE id = ? AND visitor = ?"
            return db.execute(query, (int(sample_id), self.visitor)).rowcount > 0

    @property
    def _enabled_key(self) -> str:
        return "enabled" if self.visitor == OWNER else f"enabled:{self.visitor}"

    @property
    def enabled(self) -> bool:
        """Whether the samples should be added to the model (on unless switched off)."""
        with self._connect() as db:
            query = "SELECT value FROM settings WHERE key = ?"
            row = db.execute(query, (self._enabled_key,)).fetchone()
        return row is None or row[0] == "1"

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (self._enabled_key, "1" if value else "0"),
            )

    def export_idx(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """This person's samples as two IDX files, like MNIST's: (images path, labels path).

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


def _migrate(db: sqlite3.Connection) -> None:
    """Create or bring a store of any earlier version to :data:`SCHEMA_VERSION`.

    One transaction (the caller commits), so a crash leaves the old version or the new one.
    Version 1 (no visitor column) gains the column with the owner's key for every existing
    sample: they stay the owner's, and a public app shows them to nobody.
    """
    db.execute("BEGIN IMMEDIATE")  # also keeps two processes from migrating at once
    for table in _TABLES:
        db.execute(table)
    columns = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
    if "visitor" not in columns:
        db.execute("ALTER TABLE samples ADD COLUMN visitor TEXT NOT NULL DEFAULT ''")
    db.execute(_INDEX)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
