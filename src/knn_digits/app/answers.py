"""Classifying a drawing or an image: the handlers, and the answer as the page shows it.

An answer is (label, neighbour gallery, the 28×28 digits seen, explanation, segmentation view);
:func:`answer_as_files` turns its images into files for a running app.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from knn_digits.calibration import doubt
from knn_digits.errors import KnnDigitsError
from knn_digits.preprocess import image_to_ink, load_image, sketch_to_ink

from .service import DigitService, Reading

CUT_HEIGHT = 160  # the segmentation view's height in pixels (the drawing, cropped and scaled)

# What the classify handlers return, in the order of their outputs: (label for gr.Label,
# gallery items, "what the model sees" image, explanation markdown, segmentation image)
ClassifyResult = tuple[Any, list[tuple[np.ndarray, str]], np.ndarray | None, str, np.ndarray | None]


# Said when a synthesized reference voted, so a person never takes one for a real writer's digit.
SYNTHETIC_NOTE = (
    "\n*synthetic*: an MNIST digit with a stroke added in a style MNIST's writers rarely used "
    "(a flagged 1, a 9 with a hooked tail)."
)


def _explain(reading: Reading, preset: str) -> str:
    """The answer in words, the voters, and doubt ("7 or 1?") where the vote is close."""
    lines, answers = [], []
    for i, (label, proba) in enumerate(zip(reading.labels, reading.proba, strict=True)):
        votes = ", ".join(
            f"{n}{f' ({origin})' if origin else ''} at {d:.2f}"
            for n, d, origin in zip(
                reading.neighbour_labels[i], reading.distances[i], reading.origin[i], strict=True
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
    if (reading.origin == "synthetic").any():
        lines.append(SYNTHETIC_NOTE)
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
        (image, f"{lab} · d={dist:.2f}{f' · {origin}' if origin else ''}")
        for i in range(len(reading.labels))
        for image, lab, dist, origin in zip(
            reading.neighbour_images[i],
            reading.neighbour_labels[i],
            reading.distances[i],
            reading.origin[i],
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
# Content-Length"). So the answers' images go out as files of ours, each written once under a
# name from its content, in a folder Gradio serves as it is (``gr.set_static_paths`` in
# ``build_demo``): it neither hashes nor copies them into its cache (its postprocessing of an
# answer fell from ~10 to ~4 ms). The names are keyed by a secret of this process, as Gradio
# keys its cache's, so a drawing's images can't be found from the drawing.
IMAGE_DIR = Path(tempfile.gettempdir()) / "knn-digits-images"
_NAME_KEY = secrets.token_bytes(16)


def _image_file(image: np.ndarray) -> str:
    """A PNG of ``image`` (uint8, (H, W) or (H, W, 3)) in IMAGE_DIR, written once, atomically."""
    key = hashlib.sha256(_NAME_KEY + repr((image.shape, image.dtype.str)).encode())
    key.update(image.tobytes())
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
