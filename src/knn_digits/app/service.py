"""The app's state: the model, the taught samples and their lock; a visitor's view of them.

No gradio here: :class:`DigitService` is what the handlers (:mod:`.answers`, :mod:`.handlers`)
are plain functions of, so tests drive it without a server.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knn_digits import features
from knn_digits.models import DigitModel, load_model, to_uint8
from knn_digits.personal import PersonalModel
from knn_digits.preprocess import segment_number
from knn_digits.scoring import DigitScorer, distance_scale
from knn_digits.store import SampleStore
from knn_digits.visitors import Limits, Visitors

# A taught digit joins the model with slightly rotated, slanted and scaled copies: the writer's
# next digit of that kind is never drawn quite the same. On the tune writers 1–6 of
# benchmarks/personalisation.py this took their later digits from 96.3 to 97.7 % read right.


def with_variants(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Taught digits (n, 28, 28) uint8 and labels → the same followed by their variants."""
    variants = features.augment(images, angles=(8, -8), shears=(0.2, -0.2), scales=(0.9, 1.1))
    copies = to_uint8(variants)
    return np.concatenate([images, copies]), np.tile(labels, 1 + len(copies) // len(images))


@dataclass(frozen=True)
class Reading:
    """What the model made of one canvas or image.

    ``digits`` uint8 (n, 28, 28) left to right; ``proba`` (n, 10); ``distances``/``indices``
    (n, k) into the training set; ``origin`` (n, k) str: "yours" for a taught sample,
    "synthetic" for a styled copy of an MNIST digit (:mod:`knn_digits.styles`), else "";
    ``boxes`` (top, left, bottom, right) of each digit on the canvas, when read from ink.
    """

    digits: np.ndarray
    proba: np.ndarray
    distances: np.ndarray
    indices: np.ndarray
    neighbour_images: np.ndarray
    neighbour_labels: np.ndarray
    origin: np.ndarray
    boxes: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def labels(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    @property
    def text(self) -> str:
        """The number read, e.g. ``"2026"``."""
        return "".join(str(d) for d in self.labels)


class DigitService:
    """The app's state: the model, the taught samples, and one lock around both.

    Args:
        model: a fitted ``DigitModel``.
        store: where taught samples live; ``None`` keeps them in memory only.
        loader: builds a fresh model for a preset name (``load_model``); used to switch
            presets and to forget deleted samples (a k-NN can add but not remove).
        public: serve strangers (:mod:`knn_digits.visitors`): ``store`` then holds each
            visitor's samples, used through :meth:`for_visitor` only; ``model`` stays
            MNIST's (and ``--references``') for everyone, the owner's samples unused.
        limits: what visitors may store (public only; :class:`~knn_digits.visitors.Limits`).
    """

    def __init__(
        self,
        model: DigitModel,
        store: SampleStore | None = None,
        *,
        loader: Callable[[str], DigitModel] = load_model,
        public: bool = False,
        limits: Limits | None = None,
    ) -> None:
        if public and store is None:
            raise ValueError("a public app needs a store for its visitors' samples")
        self.public = public
        self.visitors: Visitors[VisitorService] | None = (
            Visitors(store, self._visitor_service, limits=limits)
            if public and store is not None
            else None
        )
        self.store = None if public else store
        self._loader = loader
        self._lock = threading.Lock()  # held briefly: reading or swapping the model
        self._changing = threading.Lock()  # held across a whole change of samples or model
        self._scales: dict[tuple[str, int], float] = {}  # distance scales, one per base model
        with self._changing:
            self._install(model)

    @property
    def preset(self) -> str:
        return str(self._model.preset.name)

    @property
    def model(self) -> DigitModel:
        return self._model

    @property
    def voters(self) -> int:
        """How many neighbours vote on (and are shown for) each digit a person gives."""
        return self._model.for_drawings().n_neighbors

    def _install(self, model: DigitModel) -> None:
        """Add the enabled samples to ``model`` and make it the current one.

        Callers hold ``_changing``, so a sample taught meanwhile can't miss the new model.
        """
        n_base = len(model.train_labels_)
        scale = self._distance_scale(model)  # the references' own, before the person's samples
        if self.store is not None and self.store.enabled and len(self.store):
            model.add(*with_variants(*self.store.arrays()))
        with self._lock:
            self._model, self._n_base, self._scale = model, n_base, scale

    def _distance_scale(self, model: DigitModel) -> float:
        """Measured once per preset and reference set (a search of ``scoring.PROBES`` digits,
        seconds): deleting a sample or switching samples off reloads the same references."""
        key = (model.preset.key(), len(model.train_labels_))
        if key not in self._scales:
            self._scales[key] = distance_scale(model)
        return self._scales[key]

    def for_visitor(self, session: str | None) -> DigitService:
        """The service as the visitor of this gradio session sees it; locally, itself."""
        return self if self.visitors is None else self.visitors.for_session(session)

    def _visitor_service(self, store: SampleStore, admit: Callable[[], None]) -> VisitorService:
        return VisitorService(self, store, admit)

    def read(self, digits: list[np.ndarray]) -> Reading:
        """Classify digits (28, 28) float in [0, 1], with the neighbours that voted."""
        with self._lock:
            return self._reading(DigitScorer(self._model, self._scale), digits)

    def read_ink(self, ink: np.ndarray) -> Reading:
        """Cut the ink of a digit or a number into digits, scored by the model, and read them.

        Raises:
            EmptyImageError: no ink at all.
        """
        with self._lock:
            scorer = DigitScorer(self._model, self._scale)
            pieces = segment_number(ink, scorer)
            reading = self._reading(scorer, [piece.digit for piece in pieces])
        return dataclasses.replace(reading, boxes=tuple(piece.box for piece in pieces))

    def _reading(self, scorer: DigitScorer, digits: list[np.ndarray]) -> Reading:
        """What ``scorer``'s model makes of digits; callers hold ``_lock``."""
        # uint8, exactly as the store keeps digits, so a taught drawing matches itself.
        batch = to_uint8(np.stack(digits))
        proba, distances, indices = scorer.explain(digits)
        model = scorer.model
        images, labels = model.train_images_[indices], model.train_labels_[indices]
        origin = np.where(
            indices >= self._n_base, "yours", np.where(model.synthesized(indices), "synthetic", "")
        )
        return Reading(batch, proba, distances, indices, images, labels, origin)

    def teach(self, digit: np.ndarray, label: int) -> int | None:
        """Store a digit with its right label and let the model use it at once (if enabled).

        Returns the sample's id in the store, ``None`` without a store.
        """
        sample = to_uint8(digit)
        with self._changing:
            sample_id = self.store.add(sample, label) if self.store is not None else None
            if self.store is None or self.store.enabled:
                with self._lock:
                    self._model.add(*with_variants(sample[None], np.array([label])))
        return sample_id

    def reload(self, preset: str | None = None) -> None:
        """A fresh model (this preset, or the current one) with the enabled samples added."""
        with self._changing:
            self._install(self._loader(preset or self.preset))

    def _rebuild(self) -> None:
        """reload() for callers that already hold ``_changing``."""
        self._install(self._loader(self.preset))

    def delete_sample(self, sample_id: int) -> bool:
        """Forget a taught sample, in the store and in the model."""
        with self._changing:
            if self.store is None or not self.store.delete(sample_id):
                return False
            self._rebuild()
        return True

    def export_folder(self) -> Path:
        """A fresh folder for an export of the samples."""
        return Path(tempfile.mkdtemp(prefix="knn-digits-export-"))

    def set_samples_enabled(self, enabled: bool) -> None:
        """Switch the taught samples on or off (remembered in the store)."""
        with self._changing:
            if self.store is None or self.store.enabled == enabled:
                return
            self.store.enabled = enabled
            self._rebuild()


class VisitorService(DigitService):
    """One visitor of a public app: the shared model with their own samples on top.

    The model is a :class:`~knn_digits.personal.PersonalModel` over the shared one, so their
    samples change their answers only; ``store`` is their part of the store; ``admit()``
    (:class:`~knn_digits.visitors.Visitors`) may refuse a teaching before it is stored.
    """

    def __init__(self, shared: DigitService, store: SampleStore, admit: Callable[[], None]) -> None:
        base, self._shared_scale, self._admit = shared.model, shared._scale, admit
        super().__init__(PersonalModel(base), store, loader=lambda _: PersonalModel(base))
        self.public = True
        # One reading at a time, for all visitors, as in local mode: a search uses every core
        # anyway, and numba's fallback threading layer can't run two parallel kernels at once.
        self._lock = shared._lock

    def _distance_scale(self, model: DigitModel) -> float:
        return self._shared_scale  # the shared model's: measuring costs a search per visitor

    def export_folder(self) -> Path:
        """The visitor's one export folder, overwritten by each export: a stranger exporting
        again and again does not fill the server's disk."""
        assert self.store is not None
        return Path(tempfile.gettempdir()) / "knn-digits-exports" / self.store.visitor[:32]

    def teach(self, digit: np.ndarray, label: int) -> int | None:
        """As :meth:`DigitService.teach`, or :class:`LimitError` when a limit says no."""
        self._admit()
        return super().teach(digit, label)
