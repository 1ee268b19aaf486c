"""One person's own digits on top of a shared model, without copying or changing the model.

When the app serves several people, each one's taught digits must change their answers and no
one else's. Adding them to the shared :class:`~knn_digits.models.DigitModel` would change
everybody's; a copy of the model per person would cost tens of megabytes each. A
:class:`PersonalModel` searches the shared references and the person's own digits side by side
and merges the two, so its answers are exactly those of the shared model with the digits
added (``tests/test_personal.py`` checks this against :meth:`DigitModel.add` for every preset):

- first stage: each side's nearest candidates, merged by distance;
- second stage (IDM or tangent distance): the merged candidates' prepared pixels are gathered
  from both sides and re-ranked together, as one set, exactly as a single model does.

Indices number the shared references first, then the person's digits in the order added, so
``indices >= len(shared.train_labels_)`` marks the person's own neighbours, and the tie rule
"the newest exact match wins" still sees taught digits as newest.

>>> shared = load_model("raw")                      # doctest: +SKIP
>>> mine = PersonalModel(shared).add(my_digits, my_labels)   # doctest: +SKIP
>>> mine.predict(my_digits)                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knn_digits.models import DigitModel, to_uint8
from knn_digits.neighbors import KNNClassifier

__all__ = ["PersonalModel"]


class Joined:
    """Two arrays seen as one along the first axis, without copying either.

    Indexing with an integer array gathers rows from both: ``joined[indices]`` has the shape
    ``indices.shape + rows' shape``. ``np.asarray(joined)`` builds the whole (a copy).
    """

    def __init__(self, first: np.ndarray, second: np.ndarray) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, indices: Any) -> np.ndarray:
        indices = np.asarray(indices)
        if not len(self.second):
            return self.first[indices]
        theirs = indices >= len(self.first)
        rows = np.empty(indices.shape + self.first.shape[1:], self.first.dtype)
        rows[~theirs] = self.first[indices[~theirs]]
        rows[theirs] = self.second[indices[theirs] - len(self.first)]
        return rows

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = np.concatenate([self.first, self.second])
        return whole if dtype is None else whole.astype(dtype)


class PersonalModel(DigitModel):
    """``shared`` plus digits added with :meth:`add`, which only this object sees.

    ``shared`` must not change while this model is in use (the app never changes the shared
    model of a public server). Fitting is the shared model's business: call :meth:`add` only.
    """

    def __init__(self, shared: DigitModel) -> None:
        super().__init__(shared.preset)
        self.shared = shared
        # The shared fitted state, read only: feature steps, first-stage index, prepared pixels.
        if self.preset.pca:
            self._pca = shared._pca
        self._knn = shared._knn
        self.styled_ = shared.styled_
        self._cells = shared._cells
        self._train_pixels = shared._train_pixels
        self._own_images = np.empty((0, 28, 28), np.uint8)
        self._own_labels = np.empty(0, np.int64)
        self._own_pixels = np.empty((0, 28 * 28), np.float32)
        self._own_knn: KNNClassifier | None = None

    # A view where DigitModel has an array: every use (indexing, len, np.asarray) works on both.
    @property  # type: ignore[override]
    def train_images_(self) -> Joined:  # type: ignore[override]
        return Joined(self.shared.train_images_, self._own_images)

    @property  # type: ignore[override]
    def train_labels_(self) -> Joined:  # type: ignore[override]
        return Joined(self.shared.train_labels_, self._own_labels)

    @property
    def n_own(self) -> int:
        """How many digits were added to this person's side."""
        return len(self._own_labels)

    def add(self, images: Any, labels: Any) -> PersonalModel:
        """Add digits (n, 28, 28) and their labels to this person's side only."""
        batch, labels, pixels = self._prepare(images, labels)
        if self._own_knn is None:
            self._own_knn = KNNClassifier(
                1,
                metric=self.preset.metric,  # type: ignore[arg-type]
                p=self.preset.p,
            ).fit(self._first_stage(pixels), labels)
        else:
            self._own_knn.add(self._first_stage(pixels), labels)
        if self.preset.rerank:
            self._own_pixels = np.concatenate([self._own_pixels, pixels])
        self._own_images = np.concatenate([self._own_images, to_uint8(batch)])
        self._own_labels = np.concatenate([self._own_labels, labels])
        return self

    def _search(self, pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each side's k nearest, merged by distance (the shared side first on a tie)."""
        features = self._first_stage(pixels)
        n_shared = len(self.shared.train_labels_)
        distances, indices = self._nearest_references(features, min(k, n_shared))
        if self._own_knn is None:
            return distances, indices  # type: ignore[return-value]
        own_distances, own_indices = self._own_knn.kneighbors(features, min(k, self.n_own))
        distances = np.concatenate([distances, own_distances], axis=1)  # (n, k_shared + k_own)
        indices = np.concatenate([indices, own_indices + n_shared], axis=1)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, order, axis=1), np.take_along_axis(
            indices, order, axis=1
        )

    def _candidate_pixels(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Only the candidates' prepared pixels, gathered from both sides: (m, 784), rows."""
        unique, rows = np.unique(candidates, return_inverse=True)
        references = Joined(self._train_pixels, self._own_pixels)[unique]
        return references, rows.reshape(candidates.shape)
