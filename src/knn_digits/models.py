"""The fitted pipeline that turns 28×28 digits into a k-NN decision, as a preset says.

A preset (:mod:`knn_digits.presets`, re-exported here) is data: which feature steps (deskew,
blur, PCA from :mod:`knn_digits.features`), which k, metric and weighting, and optionally a
second stage that re-ranks the first stage's nearest candidates by a deformation-tolerant
distance: tangent distance (:mod:`knn_digits.tangent`) or the image distortion model
(:mod:`knn_digits.rerank`), both on the prepared (deskewed, blurred) pixels the first stage
starts from; ``accurate`` spends the full IDM stage only on the digits cheaper stages doubt
(:mod:`knn_digits.cascade`), and a second stage's candidates may come from the nearest k-means
cells instead of an exact search
(``cells``, ``probes``; :mod:`knn_digits.neighbors.cells`). The numbers in
``fast`` and ``accurate`` were chosen on a validation split by ``benchmarks/tune.py``
(``docs/validation.md``), never on the test set. ``DigitModel`` applies a preset to images;
``load_model`` fits it on MNIST's training set once and caches the fitted state on disk
(``.npz``, no pickle), keyed by the preset and the data's checksum, so the app and the CLI
start in seconds afterwards.

>>> model = load_model("raw")                       # doctest: +SKIP
>>> model.predict(test_images[:3])                  # doctest: +SKIP
array([7, 2, 1])
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import calibration, cascade, datasets, features, paths, rerank, styles, tangent
from .errors import ModelError
from .neighbors import KNNClassifier, break_ties, single_threaded_blas, vote
from .neighbors.cells import CellIndex
from .presets import DEFAULT_PRESET, LATER_FIELDS, PRESETS, Preset, get_preset

__all__ = [
    "DEFAULT_PRESET",
    "LATER_FIELDS",
    "PRESETS",
    "DigitModel",
    "Preset",
    "as_images",
    "get_preset",
    "load_model",
    "to_uint8",
]


def as_images(images: Any) -> np.ndarray:
    """Digits as float32 of shape (n, 28, 28) in [0, 1], from uint8 0–255 or float in [0, 1].

    A single (28, 28) image becomes a batch of one. Stricter than
    :func:`features.as_float_images`, which it builds on: MNIST's size, and no integer types
    other than uint8 (an int64 array of 0–255 would silently be taken as [0, 1]).
    """
    array = np.asarray(images)
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected uint8 or float images, got dtype {array.dtype}")
    batch = features.as_float_images(array)
    if batch.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (n, 28, 28) or (28, 28), got {array.shape}")
    return batch


class DigitModel:
    """A preset fitted to training digits: features, then k-NN vote.

    ``kneighbors`` indices point into ``train_images_`` / ``train_labels_``, which include any
    samples added with :meth:`add`, so the app can show the digits that voted. In that order:
    the training digits, the preset's styled copies (``styled_``: first index, count), then
    the added samples.
    """

    def __init__(self, preset: Preset | str = DEFAULT_PRESET) -> None:
        self.preset = get_preset(preset)

    @property
    def n_neighbors(self) -> int:
        return self.preset.n_neighbors

    def _pixels(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) float32 in [0, 1] -> (n, 784) float32 after deskew and blur."""
        if self.preset.deskew:
            images = features.deskew(images)
        images = features.blur(images, self.preset.blur)
        return images.reshape(len(images), -1)

    def _first_stage(self, pixels: np.ndarray) -> np.ndarray:
        """(n, 784) prepared pixels -> (n, n_features) float32: the first-stage space."""
        if not self.preset.pca:
            return pixels
        with single_threaded_blas():  # a thin product; see single_threaded_blas
            return self._pca.transform(pixels)

    def fit(self, images: Any, labels: Any) -> DigitModel:
        """Fit on digits (n, 28, 28) and their labels (plus the preset's styled copies)."""
        batch = as_images(images)
        labels = np.asarray(labels).astype(np.int64)
        if self.preset.styles:
            styled, styled_labels = styles.synthesize_styles(
                batch, labels, dict(self.preset.styles)
            )
            batch = np.concatenate([batch, styled])
            labels = np.concatenate([labels, styled_labels])
            return self._remember(batch, labels, styled=(len(labels) - len(styled), len(styled)))
        return self._remember(batch, labels, styled=(len(labels), 0))

    def _remember(
        self, batch: np.ndarray, labels: np.ndarray, styled: tuple[int, int]
    ) -> DigitModel:
        """Index exactly these references, synthesizing nothing; ``styled`` = (index of the
        first synthesized one, how many)."""
        self.styled_ = styled
        self.train_images_ = to_uint8(batch)
        self.train_labels_ = labels
        # Indexed as kept (uint8, as the cache stores them): a model fitted here and the same
        # model loaded from its cache file find the same neighbours at the same distances.
        pixels = self._pixels(as_images(self.train_images_))
        if self.preset.pca:
            self._pca = features.PCA(self.preset.pca).fit(pixels)
        self._knn = KNNClassifier(
            self.preset.n_neighbors,
            metric=self.preset.metric,  # type: ignore[arg-type]
            p=self.preset.p,
            weights=self.preset.weights,  # type: ignore[arg-type]
        ).fit(self._first_stage(pixels), self.train_labels_)
        # Cells pay only with many references each; a small training set is searched exactly.
        self._cells: CellIndex | None = None
        if self.preset.cells and self.preset.rerank and len(batch) >= 16 * self.preset.cells:
            self._cells = CellIndex(self._knn._index.reference, self.preset.cells)
        # The second stage compares prepared pixels; only presets with one keep them.
        self._train_pixels = pixels if self.preset.rerank else pixels[:0]
        return self

    def _prepare(self, images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """New digits as (float images, int64 labels, prepared pixels), ready to remember:
        rounded to uint8 first, as they are kept."""
        batch = as_images(to_uint8(as_images(images)))
        return batch, np.asarray(labels).astype(np.int64).reshape(-1), self._pixels(batch)

    def add(self, images: Any, labels: Any) -> DigitModel:
        """Append labelled digits without refitting (a k-NN learns by remembering)."""
        batch, labels, pixels = self._prepare(images, labels)
        first_stage = self._first_stage(pixels)
        self._knn.add(first_stage, labels)
        if self._cells is not None:
            self._cells.add(first_stage)
        if self.preset.rerank:
            self._train_pixels = np.concatenate([self._train_pixels, pixels])
        self.train_images_ = np.concatenate([self.train_images_, to_uint8(batch)])
        self.train_labels_ = np.concatenate([self.train_labels_, labels])
        return self

    def synthesized(self, indices: Any) -> np.ndarray:
        """Which references (indices into ``train_images_``) are styled copies, not real digits:
        the app says so beside the neighbours that voted."""
        indices = np.asarray(indices)
        first, count = self.styled_
        return (indices >= first) & (indices < first + count)

    def kneighbors(
        self, images: Any, n_neighbors: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices into ``train_images_``), each (n, k), nearest first.

        With a second stage the distances are its distances (IDM or tangent) over the first
        stage's ``preset.rerank`` nearest candidates.
        """
        pixels = self._pixels(as_images(images))
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not self.preset.rerank:
            return self._search(pixels, k)
        n_candidates = min(max(self.preset.rerank, k), len(self.train_labels_))
        if self.preset.cascade_margin and self.preset.rerank_distance == "idm":
            return cascade.kneighbors(self, pixels, n_candidates, k)
        _, candidates = self._search(pixels, n_candidates)
        references, rows = self._candidate_pixels(candidates)
        queries = pixels.reshape(-1, 28, 28)
        distances = self._second_stage(queries, references, rows, nearest=k)
        return cascade.k_nearest(distances, candidates, k)

    def without_cascade(self) -> DigitModel:
        """This fitted model with every digit given the full second stage (shares its data)."""
        return self._with_preset(dataclasses.replace(self.preset, cascade_margin=0.0))

    def for_drawings(self) -> DigitModel:
        """This fitted model voting as its preset votes on digits from the drawing pipeline
        (drawings, uploaded images), whose neighbours are farther than MNIST digits' (shares
        its data). The app and ``knn-digits predict`` read with it."""
        return self._with_preset(self.preset.for_drawings())

    def _with_preset(self, preset: Preset) -> DigitModel:
        """This fitted model reading with ``preset``, a variant of its own that needs no refit."""
        if preset == self.preset:
            return self
        variant = copy.copy(self)
        variant.preset = preset
        return variant

    def _search(self, pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first stage: (distances, indices) of the k nearest, from prepared pixels."""
        return self._nearest_references(self._first_stage(pixels), k)

    def _nearest_references(self, features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training digits in the first-stage space: exact, or by probing cells."""
        if self._cells is None:
            return self._knn.kneighbors(features, k)  # type: ignore[return-value]
        distances, indices = self._cells.search(features, k, n_probe=self.preset.probes)
        short = np.flatnonzero((indices < 0).any(axis=1))  # probed cells held fewer than k
        if len(short):
            distances[short], indices[short] = self._knn.kneighbors(features[short], k)
        return distances, indices

    def _candidate_pixels(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(prepared pixels (m, 784), rows of ``candidates`` in them) for the second stage."""
        return self._train_pixels, candidates

    def _second_stage(
        self,
        queries: np.ndarray,
        references: np.ndarray,
        candidates: np.ndarray,
        nearest: int | None = None,
    ) -> np.ndarray:
        """The preset's fine distance from each prepared query to its candidates, (n, N); with
        ``nearest``, IDM may give +inf beyond each query's nearest few (see :meth:`_idm`)."""
        preset = self.preset
        if preset.rerank_distance == "tangent":
            return tangent.tangent_distance(
                queries, references, candidates, sigma=preset.tangent_sigma
            )
        return self._idm(queries, references, candidates, preset.distorted, nearest)

    def _idm(
        self,
        queries: np.ndarray,
        references: np.ndarray,
        candidates: np.ndarray,
        n_distorted: int,
        nearest: int | None = None,
    ) -> np.ndarray:
        """IDM to the candidates (rows of ``references``), the n_distorted IDM-nearest also
        tried distorted; only each query's ``nearest`` smallest are sure to be finite (the
        others may be abandoned early, +inf), None: all."""
        preset = self.preset
        angles = (preset.rotate, *preset.more_angles) if preset.rotate else preset.more_angles
        distortions = {
            "angles": tuple(a for angle in angles for a in (angle, -angle)),
            "shears": (preset.shear, -preset.shear) if preset.shear else (),
            "scales": (1 - preset.zoom, 1 + preset.zoom) if preset.zoom else (),
            "thicken": (preset.thicken,) if preset.thicken else (),
        }
        return rerank.idm_candidates(
            queries,
            references.reshape(-1, 28, 28),
            candidates,
            distortions=distortions,
            n_distorted=n_distorted,
            nearest=nearest,
        )

    def _votes(self, distances: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Votes (n, 10) and the voters' labels (n, k), from sorted neighbours.

        A query that exactly matches stored digits (distance 0) takes the label of the most
        recently stored match, whatever the weighting: a digit someone taught comes back with
        the taught label, and teaching it again with another label changes the answer.
        """
        voters = self.train_labels_[indices]
        votes = vote(distances**self.preset.weight_power, voters, 10, self.preset.weights)
        exact = distances == 0  # (n, k)
        matched = np.flatnonzero(exact.any(axis=1))
        if len(matched):
            newest = np.where(exact[matched], indices[matched], -1).max(axis=1)
            votes[matched] = 0
            votes[matched, self.train_labels_[newest]] = 1
            voters[matched, 0] = self.train_labels_[newest]  # the tie-break sees it first
        return votes, voters

    def explain(self, images: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (n, 10) with the neighbours that voted: (proba, distances, indices).

        The probabilities are the vote shares, smoothed by ``preset.smoothing``.

        One search for both, so the app's "why" costs nothing beyond the answer.
        """
        distances, indices = self.kneighbors(images)
        votes, _ = self._votes(distances, indices)
        shares = votes / votes.sum(axis=1, keepdims=True)
        return calibration.smooth(shares, self.preset.smoothing), distances, indices

    def predict_proba(self, images: Any) -> np.ndarray:
        """Probabilities of shape (n, 10), one column per digit 0–9 (see :meth:`explain`)."""
        return self.explain(images)[0]

    def predict(self, images: Any) -> np.ndarray:
        """The predicted digit of each image, int64 of shape (n,); ties as in ``break_ties``."""
        votes, voters = self._votes(*self.kneighbors(images))
        return break_ties(votes, voters)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted state to ``.npz`` (no pickle), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        with open(tmp, "wb") as out:
            np.savez(
                out,
                preset=np.array(json.dumps(dataclasses.asdict(self.preset))),
                train_images=self.train_images_,
                train_labels=self.train_labels_,
                styled=np.array(self.styled_),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DigitModel:
        """Read a model written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                preset = Preset(**json.loads(str(archive["preset"])))
                images, labels = archive["train_images"], archive["train_labels"]
                first, count = archive["styled"].tolist()
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: not a saved DigitModel ({exc})") from None
        # The saved references already hold the styled copies: index them as they are.
        return cls(preset)._remember(as_images(images), labels.astype(np.int64), (first, count))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Digits in [0, 1] as uint8 0–255, rounded: how training and taught digits are kept."""
    return np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)


def load_model(
    preset: str | Preset = DEFAULT_PRESET,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    references: Sequence[str | os.PathLike[str]] = (),
) -> DigitModel:
    """A preset fitted on MNIST's 60,000 training digits, from the disk cache when it can be.

    ``references`` adds labelled digits from other collections (IDX or UNIPEN files, see
    :mod:`knn_digits.references`) to the training digits. The cache file's name holds the
    preset's hash and the data's checksum (and the references'): a changed preset, data set or
    reference file fits afresh. A corrupt cache file is ignored and rewritten.
    """
    spec = get_preset(preset)
    key = f"{spec.name}-{spec.key()}-{datasets.data_checksum(data_dir)}"
    if references:
        from .references import references_checksum  # it draws pen files with preprocess

        key += f"-refs-{references_checksum(references)}"
    path = paths.cache_dir() / f"{key}.npz"
    if cache and path.is_file():
        try:
            return DigitModel.load(path)
        except ModelError:
            path.unlink(missing_ok=True)
    images, labels = datasets.load_mnist("train", data_dir)
    if references:
        from .references import load_references

        more_images, more_labels = load_references(references)
        images = np.concatenate([images, more_images])
        labels = np.concatenate([labels, more_labels])
    model = DigitModel(spec).fit(images, labels)
    if cache:
        model.save(path)
    return model
