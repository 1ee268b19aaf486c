"""The Gradio app: draw a digit (or a number), see it classified and why, teach it.

``build_demo(service)`` lays out the UI around a :class:`DigitService` — the model, the taught
samples and a lock — and wires events to the ``handle_*`` functions below. Those are plain
functions of a service and the components' values, so tests call them without a server.

Contract for automation (issue 4): element ids ``sketchpad`` (holding the drawing ``<canvas>``),
``classify``, ``prediction``, ``neighbours``, ``upload``; API ``/classify`` (a Sketchpad value or
the pad's strokes, :mod:`knn_digits.canvas`; the drawing's number comes back last),
``/classify_image`` (an image file) and ``/teach`` (a drawing, digit "0"–"9"); each returns its
main result first. The pad (:mod:`knn_digits.drawing_pad`) sends each finished stroke at once;
an answer is shown only while the canvas still holds the drawing it was asked for.
A number is cut into digits by recognition-driven segmentation (the model scores the ways to
cut it, :mod:`knn_digits.scoring`); ``segmentation`` shows the cut it chose.

In public mode (``knn-digits app --public``) every handler gets the service as the calling
visitor sees it (:meth:`DigitService.for_visitor`, by gradio's session): a
:class:`VisitorService` with their own samples on top of the shared model. Who is who, and the
limits: :mod:`knn_digits.visitors`.

Works offline: analytics and telemetry are switched off before gradio is imported, and the
default theme loads nothing from outside.
"""

from __future__ import annotations

import os

# huggingface_hub and gradio read these at import time (../shared/BROWSER_TESTING.md).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
if any(
    os.environ.get(name)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
):
    # Otherwise launch() fails checking its own URL through the proxy.
    _no_proxy = os.environ.get("NO_PROXY", os.environ.get("no_proxy", ""))
    os.environ["NO_PROXY"] = ",".join(filter(None, [_no_proxy, "127.0.0.1", "localhost"]))

import dataclasses  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from knn_digits import features  # noqa: E402
from knn_digits.calibration import doubt  # noqa: E402
from knn_digits.drawing_pad import DrawingPad  # noqa: E402
from knn_digits.errors import KnnDigitsError, LimitError  # noqa: E402
from knn_digits.models import (  # noqa: E402
    DEFAULT_PRESET,
    PRESETS,
    DigitModel,
    load_model,
    to_uint8,
)
from knn_digits.paths import report_dir  # noqa: E402
from knn_digits.personal import PersonalModel  # noqa: E402
from knn_digits.preprocess import (  # noqa: E402
    image_to_ink,
    load_image,
    segment_digits,
    segment_number,
    sketch_to_ink,
)
from knn_digits.report import report_figures  # noqa: E402
from knn_digits.scoring import DigitScorer, distance_scale  # noqa: E402
from knn_digits.store import SampleStore, default_store_path  # noqa: E402
from knn_digits.visitors import Limits, Visitors  # noqa: E402

__all__ = [
    "DigitService",
    "Reading",
    "VisitorService",
    "build_demo",
    "handle_classify",
    "handle_classify_image",
    "handle_drawing",
    "handle_teach",
    "launch",
]

CANVAS = (420, 420)  # (width, height): room for a finger, and for a number of 3–4 digits
BRUSH_RADIUS = 9  # a felt pen on this canvas; the pipeline redraws any width anyway
THUMBNAIL = 112  # taught digits in the samples gallery
CUT_HEIGHT = 160  # the segmentation view's height in pixels (the drawing, cropped and scaled)


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
    (n, k) into the training set; ``taught`` (n, k) bool: the neighbour is a taught sample;
    ``boxes`` (top, left, bottom, right) of each digit on the canvas, when read from ink.
    """

    digits: np.ndarray
    proba: np.ndarray
    distances: np.ndarray
    indices: np.ndarray
    neighbour_images: np.ndarray
    neighbour_labels: np.ndarray
    taught: np.ndarray
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
        with self._changing:
            self._install(model)

    @property
    def preset(self) -> str:
        return str(self._model.preset.name)

    @property
    def model(self) -> DigitModel:
        return self._model

    def _install(self, model: DigitModel) -> None:
        """Add the enabled samples to ``model`` and make it the current one.

        Callers hold ``_changing``, so a sample taught meanwhile can't miss the new model.
        """
        n_base = len(model.train_labels_)
        if self.store is not None and self.store.enabled and len(self.store):
            model.add(*with_variants(*self.store.arrays()))
        scale = self._distance_scale(model)
        with self._lock:
            self._model, self._n_base, self._scale = model, n_base, scale

    def _distance_scale(self, model: DigitModel) -> float:
        return distance_scale(model)

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
        return Reading(batch, proba, distances, indices, images, labels, indices >= self._n_base)

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


# --------------------------------------------------------------------------------------------
# Handlers: plain functions of a service and the components' values
# --------------------------------------------------------------------------------------------

# What the classify handlers return, in the order of their outputs: (label for gr.Label,
# gallery items, "what the model sees" image, explanation markdown, segmentation image)
ClassifyResult = tuple[Any, list[tuple[np.ndarray, str]], np.ndarray | None, str, np.ndarray | None]


def _enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    return np.kron(image, np.ones((factor, factor), np.uint8))


def _explain(reading: Reading, preset: str) -> str:
    """The answer in words, the voters, and doubt ("7 or 1?") where the vote is close."""
    lines, answers = [], []
    for i, (label, proba) in enumerate(zip(reading.labels, reading.proba, strict=True)):
        votes = ", ".join(
            f"{n}{' (yours)' if mine else ''} at {d:.2f}"
            for n, d, mine in zip(
                reading.neighbour_labels[i], reading.distances[i], reading.taught[i], strict=True
            )
        )
        prefix = f"Digit {i + 1}: " if len(reading.labels) > 1 else ""
        close = doubt(proba)
        answer = f"{close[0]} or {close[1]}?" if close else str(label)
        hint = " The vote is close: if it's wrong, teach it the right digit below." if close else ""
        lines.append(
            f"- {prefix}**{answer}** ({proba[label]:.0%}): the "
            f"{len(reading.neighbour_labels[i])} nearest training digits are {votes}.{hint}"
        )
        answers.append(answer)
    if len(reading.labels) > 1:
        head = f"Read **{reading.text}** left to right."
    else:  # "It's a **7**." or, in doubt, "It's a **7 or 1?**"
        head = f"It's a **{answers[0]}**" + ("" if answers[0].endswith("?") else ".")
    return f"{head} Preset `{preset}`.\n\n" + "\n".join(lines)


def _cuts(ink: np.ndarray, reading: Reading) -> np.ndarray:
    """The drawing, cropped to its ink, with a box and the digit read around each digit found:
    uint8 RGB (CUT_HEIGHT + label room, w, 3)."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    pad = 4
    top, left = max(rows[0] - pad, 0), max(cols[0] - pad, 0)
    crop = ink[top : rows[-1] + pad + 1, left : cols[-1] + pad + 1]
    scale = CUT_HEIGHT / crop.shape[0]
    size = (max(1, round(crop.shape[1] * scale)), CUT_HEIGHT)
    grey = Image.fromarray(np.rint(255 - 200 * crop).astype(np.uint8)).resize(size)
    view = Image.new("RGB", (size[0], CUT_HEIGHT + 16), "white")
    view.paste(grey.convert("RGB"), (0, 16))
    draw = ImageDraw.Draw(view)
    colours = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
    for i, ((y0, x0, y1, x1), label) in enumerate(zip(reading.boxes, reading.labels, strict=True)):
        colour = colours[i % len(colours)]
        box = [(x0 - left) * scale, (y0 - top) * scale + 16, (x1 - left) * scale - 1]
        draw.rectangle([*box, (y1 - top) * scale + 15], outline=colour, width=2)
        draw.text((box[0] + 2, 2), str(label), fill=colour)
    return np.asarray(view)


def _present(service: DigitService, ink: np.ndarray) -> ClassifyResult:
    reading = service.read_ink(ink)
    if len(reading.labels) == 1:
        label: Any = {str(d): float(p) for d, p in enumerate(reading.proba[0])}
    else:
        label = reading.text
    gallery = [  # one row per digit of a number (the gallery has k columns)
        (image, f"{lab} · d={dist:.2f}{' · yours' if mine else ''}")
        for i in range(len(reading.labels))
        for image, lab, dist, mine in zip(
            reading.neighbour_images[i],
            reading.neighbour_labels[i],
            reading.distances[i],
            reading.taught[i],
            strict=True,
        )
    ]
    # 28×28 as they are: the page enlarges them with square pixels (PAGE_CSS), a sixteenth of
    # the bytes to encode and send that enlarged copies would cost.
    seen = np.concatenate(list(reading.digits), axis=1)
    return label, gallery, seen, _explain(reading, service.preset), _cuts(ink, reading)


def _failure(message: str) -> ClassifyResult:
    return None, [], None, f"⚠️ {message}", None


def handle_classify(service: DigitService, sketch: Mapping[str, Any] | None) -> ClassifyResult:
    """Classify what is drawn on the Sketchpad (one digit, or a number left to right)."""
    try:
        return _present(service, sketch_to_ink(sketch))
    except KnnDigitsError as exc:
        return _failure(str(exc))


def handle_drawing(service: DigitService, drawing: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """:func:`handle_classify`'s answer followed by the number of the drawing it belongs to
    (``None`` for a Sketchpad value), so the page can drop an answer the pen has overtaken."""
    version = drawing.get("version") if drawing is not None else None
    return (*handle_classify(service, drawing), version)


# Gradio saves an output image to a file named by its content and rewrites that file whenever an
# answer holds the same image again (the same neighbours; the live answer and Classify's for one
# drawing) — while the page may still be downloading it ("Too little data for declared
# Content-Length"). A file it is handed is copied once, by a rename. So the answers' images go
# out as files of ours, each written once under a name from its content.
IMAGE_DIR = Path(tempfile.gettempdir()) / "knn-digits-images"


def _image_file(image: np.ndarray) -> str:
    """A PNG of ``image`` (uint8, (H, W) or (H, W, 3)) in IMAGE_DIR, written once, atomically."""
    key = hashlib.sha256(repr((image.shape, image.dtype.str)).encode() + image.tobytes())
    path = IMAGE_DIR / f"{key.hexdigest()[:32]}.png"
    if not path.exists():
        IMAGE_DIR.mkdir(parents=True, exist_ok=True)
        descriptor, staging = tempfile.mkstemp(dir=IMAGE_DIR, suffix=".part")
        with os.fdopen(descriptor, "wb") as out:
            Image.fromarray(image).save(out, format="png")
        os.replace(staging, path)
    return str(path)


def answer_as_files(handler: Callable[..., tuple[Any, ...]]) -> Callable[..., tuple[Any, ...]]:
    """``handler`` (returning a ClassifyResult, maybe with more after it) with its images as
    files (:func:`_image_file`), for the outputs of a running app."""

    def call(service: DigitService, *args: Any) -> tuple[Any, ...]:
        label, gallery, seen, text, cuts, *rest = handler(service, *args)
        files = [(_image_file(image), caption) for image, caption in gallery]
        seen_file = _image_file(seen) if seen is not None else None
        cuts_file = _image_file(cuts) if cuts is not None else None
        return (label, files, seen_file, text, cuts_file, *rest)

    call.__doc__ = handler.__doc__
    return call


def handle_classify_image(service: DigitService, path: str | None) -> ClassifyResult:
    """Classify an uploaded photo, scan or image file."""
    if not path:
        return _failure("Upload an image of a digit first.")
    try:
        return _present(service, image_to_ink(load_image(path)))
    except KnnDigitsError as exc:
        return _failure(str(exc))


def _sample_gallery(service: DigitService) -> list[tuple[np.ndarray, str]]:
    if service.store is None:
        return []
    return [
        (_enlarge(s.image, THUMBNAIL // 28), f"#{s.id} → {s.label}")
        for s in service.store.samples()
    ]


def handle_teach(
    service: DigitService, sketch: Mapping[str, Any] | None, digit: str | None
) -> tuple[str, list[tuple[np.ndarray, str]]]:
    """Teach the drawn digit's right label. Returns (message, the samples gallery)."""
    label = str(digit).strip() if digit is not None else ""
    if label not in tuple("0123456789"):  # not str.isdigit(): that accepts "²"
        return f"⚠️ Pick the right digit (0–9) first, got {digit!r}.", _sample_gallery(service)
    try:
        digits = segment_digits(sketch_to_ink(sketch))
    except KnnDigitsError as exc:
        return f"⚠️ {exc}", _sample_gallery(service)
    if len(digits) != 1:
        return (
            f"⚠️ Teach one digit at a time: the canvas holds {len(digits)}.",
            _sample_gallery(service),
        )
    try:
        sample_id = service.teach(digits[0], int(label))
    except LimitError as exc:
        return f"⚠️ {exc}", _sample_gallery(service)
    if service.store is None:
        message = f"Learned: this is a {label} (kept until the app stops)."
    elif not service.store.enabled:
        message = (
            f"Stored as a {label} (sample #{sample_id}), but your samples are switched "
            "off: switch them on to use it."
        )
    else:  # a stranger is told nothing about the server (paths, versions)
        where = "yours only" if service.public else f"kept in {service.store.path}"
        message = f"Learned: this is a {label} (sample #{sample_id}, {where})."
    return message, _sample_gallery(service)


def handle_delete(
    service: DigitService, sample_id: float | None
) -> tuple[str, list[tuple[np.ndarray, str]]]:
    """Delete a taught sample by id. Returns (message, the samples gallery)."""
    if sample_id is None or not np.isfinite(sample_id):
        return "⚠️ Pick a sample (click it) or type its number first.", _sample_gallery(service)
    if service.delete_sample(int(sample_id)):
        return f"Deleted sample #{int(sample_id)}.", _sample_gallery(service)
    yours = " of yours" if service.public else ""
    return f"⚠️ There is no sample #{int(sample_id)}{yours}.", _sample_gallery(service)


def handle_use_samples(service: DigitService, enabled: bool) -> str:
    """Switch the taught samples on or off."""
    service.set_samples_enabled(bool(enabled))
    return "Your samples are on." if enabled else "Your samples are off: the model ignores them."


def handle_export(service: DigitService) -> tuple[str, list[str] | None]:
    """Export the samples as IDX files. Returns (message, file paths to download)."""
    if service.store is None or len(service.store) == 0:
        return "⚠️ There are no samples to export yet.", None
    paths = service.store.export_idx(service.export_folder())
    return f"Exported {len(service.store)} samples in MNIST's IDX format.", [str(p) for p in paths]


def handle_preset(service: DigitService, preset: str) -> str:
    """Switch to another preset (fitted once, then read from the disk cache)."""
    if service.public:  # one visitor's choice would change everybody's answers
        return f"⚠️ This shared app keeps the preset `{service.preset}`."
    if preset not in PRESETS:
        return f"⚠️ Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}."
    service.reload(preset)
    return f"Now using preset `{preset}`: {PRESETS[preset].description}."


def handle_neighbour_columns(service: DigitService) -> gr.Gallery:
    """The neighbour gallery as one row of k per digit, k being the current preset's."""
    return gr.Gallery(columns=service.model.n_neighbors)


def handle_about(service: DigitService) -> tuple[str, list[tuple[str, str]]]:
    """The "About the model" tab: the preset, and the figures of its report if one exists.

    Returns (Markdown, gallery items). Reports are written by ``knn-digits report`` into
    :func:`knn_digits.paths.report_dir`, where this looks.
    """
    preset = PRESETS[service.preset]
    folder = report_dir(preset.name)
    lines = [f"### Preset `{preset.name}`", preset.description, ""]
    figures = report_figures(folder)
    if figures:
        metrics = json.loads((folder / "metrics.json").read_text())
        where = "" if service.public else f" (report in `{folder}`)"
        lines.append(
            f"**MNIST test error: {100 * metrics['error_rate']:.2f} %** on "
            f"{metrics['n_test']:,} test digits{where}. Parameters were chosen "
            "on a validation split of the training set, never on the test set."
        )
    elif service.public:
        lines.append("No evaluation report for this preset yet.")
    else:
        lines.append(
            f"No evaluation report for this preset yet: run `knn-digits report --preset "
            f"{preset.name}` (a few minutes), then reload this page to see its figures."
        )
    return "\n".join(lines), [(str(path), caption) for path, caption in figures]


def handle_select_sample(service: DigitService, index: Any) -> float | None:
    """The id of the sample at ``index`` in the samples gallery (the one clicked)."""
    samples = service.store.samples() if service.store is not None else []
    return float(samples[index].id) if isinstance(index, int) and index < len(samples) else None


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def build_demo(service: DigitService) -> gr.Blocks:
    """The UI around ``service``: draw/upload → label, neighbours, the 28×28 seen; teach."""

    def bind(handler: Callable[..., Any]) -> Callable[..., Any]:
        # gradio passes the request first (it names the session); the handler gets the
        # service as this session's visitor sees it (in local mode, the service itself).
        def call(request: gr.Request, *args: Any) -> Any:
            return handler(service.for_visitor(request.session_hash), *args)

        call.__doc__ = handler.__doc__  # shown in the API page
        return call

    with gr.Blocks(title="knn-digits") as demo:
        gr.Markdown(
            "# Handwritten digits, read by k nearest neighbours\n"
            "Draw a digit — or a number — and see which MNIST digits it is closest to. "
            "If the answer is wrong, teach it the right one.",
            elem_id="intro",
        )
        with gr.Tab("Classify"), gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Draw"):
                    pad = DrawingPad(size=CANVAS, brush_radius=BRUSH_RADIUS, elem_id="sketchpad")
                    classify = gr.Button("Classify", elem_id="classify", variant="primary")
                with gr.Tab("Upload"):
                    upload = gr.File(
                        elem_id="upload",
                        label="A photo or scan of a digit on paper, or an MNIST-style image",
                        file_types=["image"],
                        type="filepath",
                    )
                # Right under the canvas, so a phone shows the drawing and its answer together.
                prediction = gr.Label(elem_id="prediction", label="Prediction", num_top_classes=3)
                with gr.Accordion("Teach it", open=False):
                    correct = gr.Radio(
                        [str(d) for d in range(10)], label="The right digit", elem_id="correct"
                    )
                    teach = gr.Button("Teach", elem_id="teach")
                    notice = gr.Markdown(elem_id="notice")
                with gr.Accordion("Your samples and settings", open=False):
                    samples = gr.Gallery(
                        _sample_gallery(service),
                        elem_id="samples",
                        label="Your samples (click one to select it)",
                        columns=6,
                        fit_columns=False,
                        allow_preview=False,
                        height="auto",
                    )
                    with gr.Row():
                        sample_id = gr.Number(
                            None, label="Sample #", precision=0, elem_id="sample_id"
                        )
                        delete = gr.Button("Delete", elem_id="delete")
                    use_samples = gr.Checkbox(
                        service.store.enabled if service.store is not None else True,
                        label="Use my samples",
                        elem_id="use_samples",
                        interactive=service.store is not None or service.public,
                    )
                    export = gr.Button("Export as IDX", elem_id="export")
                    exported = gr.File(
                        label="Exported files", file_count="multiple", interactive=False, height=100
                    )
                    preset = gr.Dropdown(
                        list(PRESETS), value=service.preset, label="Preset", elem_id="preset"
                    )
            with gr.Column(scale=1):
                explanation = gr.Markdown(elem_id="explanation")
                seen = gr.Image(
                    elem_id="seen",
                    label="What the model sees (28×28)",
                    type="numpy",
                    interactive=False,
                    height=240,
                    format="png",
                )
                neighbours = gr.Gallery(
                    elem_id="neighbours",
                    label="Nearest training digits",
                    columns=service.model.n_neighbors,
                    fit_columns=False,
                    allow_preview=False,
                    height=300,
                    format="png",
                )
                segmentation = gr.Image(
                    elem_id="segmentation",
                    label="How the drawing was cut into digits",
                    type="numpy",
                    interactive=False,
                    height=CUT_HEIGHT + 60,
                    format="png",
                )

        with gr.Tab("About the model"):
            about = gr.Markdown(elem_id="about")
            figures = gr.Gallery(
                elem_id="about_figures",
                label="Evaluation report",
                columns=1,
                fit_columns=False,
                allow_preview=True,
                height="auto",
            )

        results = [prediction, neighbours, seen, explanation, segmentation]
        # A drawing's answer lands in hidden twins first, tagged with the drawing's number; the
        # page shows it only if the canvas still holds that drawing (PUBLISH_IF_CURRENT_JS).
        staged = [
            gr.Label(visible=False, num_top_classes=3),
            gr.Gallery(visible=False, format="png"),
            gr.Image(visible=False, type="numpy", format="png"),
            gr.Markdown(visible=False),
            gr.Image(visible=False, type="numpy", format="png"),
        ]
        answered = gr.Number(visible=False, precision=0)
        publish: dict[str, Any] = {
            "fn": None,
            "inputs": [pad, answered, *staged],
            "outputs": results,
            "js": PUBLISH_IF_CURRENT_JS,
            "show_progress": "hidden",
        }
        read_drawing = bind(answer_as_files(handle_drawing))
        classify.click(read_drawing, pad, [*staged, answered], api_name="classify").success(
            **publish
        )
        pad.change(
            read_drawing,
            pad,
            [*staged, answered],
            api_visibility="private",
            trigger_mode="always_last",
            show_progress="hidden",
        ).success(**publish)
        upload.upload(
            bind(answer_as_files(handle_classify_image)),
            upload,
            results,
            api_name="classify_image",
        )
        teach.click(bind(handle_teach), [pad, correct], [notice, samples], api_name="teach")

        def select_sample(event: gr.SelectData, request: gr.Request) -> float | None:
            return handle_select_sample(service.for_visitor(request.session_hash), event.index)

        samples.select(select_sample, None, sample_id, api_visibility="private")
        delete.click(bind(handle_delete), sample_id, [notice, samples], api_name="delete_sample")
        use_samples.input(bind(handle_use_samples), use_samples, notice, api_name="use_samples")
        export.click(bind(handle_export), None, [notice, exported], api_name="export_samples")
        preset.input(bind(handle_preset), preset, notice, api_name="preset").then(
            bind(handle_about), None, [about, figures], api_visibility="private"
        ).then(bind(handle_neighbour_columns), None, neighbours, api_visibility="private")
        # The same for everyone: no visitor is made (or looked up) for it.
        about_model = functools.partial(handle_about, service)
        demo.load(about_model, None, [about, figures], api_visibility="private")
        if service.visitors is not None:
            _remember_visitors(demo, service.visitors, samples, use_samples)
    return demo


def _remember_visitors(
    demo: gr.Blocks,
    visitors: Visitors[VisitorService],
    samples: gr.Gallery,
    use_samples: gr.Checkbox,
) -> None:
    """A public page keeps its visitor's token in the browser's local storage; on every load
    the session becomes that visitor again (or a new one) and shows their samples."""
    # BrowserState encrypts what it stores, but the browser holds the key: it is no secret.
    # A fixed one keeps the token readable after the server restarts.
    saved = gr.BrowserState(None, storage_key="knn-digits-visitor", secret="knn-digits")

    def restore(token: Any, request: gr.Request) -> tuple[str, list[Any], bool]:
        view, token = visitors.restore(request.session_hash, token)
        assert view.store is not None
        return token, _sample_gallery(view), view.store.enabled

    demo.load(restore, saved, [saved, samples, use_samples], api_visibility="private")


# Shows a drawing's staged answer only if the canvas still holds that drawing; otherwise leaves
# every output as it is ({"__type__": "update"} changes nothing, like gr.skip()): the answer
# for the newer drawing is on its way (the pad's change event always runs for the last one).
# The canvas's data-answered attribute then says which drawing the page shows the answer for.
PUBLISH_IF_CURRENT_JS = """
(drawing, answered, ...answer) => {
  const current = drawing && typeof drawing === "object" ? drawing.version ?? null : null;
  if (current !== answered) return answer.map(() => ({__type__: "update"}));
  const canvas = document.querySelector("#sketchpad canvas");
  if (canvas) canvas.dataset.answered = String(answered ?? 0);
  return answer;
}
"""

# The digits the model saw and its neighbours come at 28×28: enlarged here, pixels kept square.
# A phone (narrow screen): a smaller title, no intro, so the canvas and the answer under it fit.
PAGE_CSS = """
#seen img, #neighbours img { image-rendering: pixelated; }
#seen img { width: 100%; height: 100%; object-fit: contain; }
@media (max-width: 640px) {
  #intro h1 { font-size: 1.3rem; margin: 0; }
  #intro p { display: none; }
}
"""


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    preset: str | None = None,
    store_path: str | None = None,
    references: Sequence[str] = (),
    public: bool = False,
    limits: Limits | None = None,
) -> None:
    """Serve the app until interrupted (``knn-digits app``); ``references`` as in load_model.

    ``public``: serve strangers, each with their own samples, within ``limits``
    (:mod:`knn_digits.visitors`).
    """
    store = SampleStore(default_store_path(store_path))
    loader = functools.partial(load_model, references=references)
    service = DigitService(
        loader(preset or DEFAULT_PRESET), store, loader=loader, public=public, limits=limits
    )
    demo = build_demo(service)
    # Two workers for two cores; a 50 MB cap keeps absurd uploads from being stored at all.
    demo.queue(default_concurrency_limit=2).launch(
        server_name=host, server_port=port, max_file_size="50mb", css=PAGE_CSS
    )
