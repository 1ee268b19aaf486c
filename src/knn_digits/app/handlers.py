"""Teaching, the taught samples, the preset and the About tab: plain functions of a service
(in public mode, the calling visitor's) and the components' values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import gradio as gr
import numpy as np

from knn_digits.errors import KnnDigitsError, LimitError
from knn_digits.models import PRESETS
from knn_digits.paths import report_dir
from knn_digits.preprocess import segment_digits, sketch_to_ink
from knn_digits.report import report_figures

from .service import DigitService

THUMBNAIL = 112  # taught digits in the samples gallery


def _enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    return np.kron(image, np.ones((factor, factor), np.uint8))


def sample_gallery(service: DigitService) -> list[tuple[np.ndarray, str]]:
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
        return f"⚠️ Pick the right digit (0–9) first, got {digit!r}.", sample_gallery(service)
    try:
        digits = segment_digits(sketch_to_ink(sketch))
    except KnnDigitsError as exc:
        return f"⚠️ {exc}", sample_gallery(service)
    if len(digits) != 1:
        return (
            f"⚠️ Teach one digit at a time: the canvas holds {len(digits)}.",
            sample_gallery(service),
        )
    try:
        sample_id = service.teach(digits[0], int(label))
    except LimitError as exc:
        return f"⚠️ {exc}", sample_gallery(service)
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
    return message, sample_gallery(service)


def handle_delete(
    service: DigitService, sample_id: float | None
) -> tuple[str, list[tuple[np.ndarray, str]]]:
    """Delete a taught sample by id. Returns (message, the samples gallery)."""
    if sample_id is None or not np.isfinite(sample_id):
        return "⚠️ Pick a sample (click it) or type its number first.", sample_gallery(service)
    if service.delete_sample(int(sample_id)):
        return f"Deleted sample #{int(sample_id)}.", sample_gallery(service)
    yours = " of yours" if service.public else ""
    return f"⚠️ There is no sample #{int(sample_id)}{yours}.", sample_gallery(service)


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
    return gr.Gallery(columns=service.voters)


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
