"""The evaluation report: one folder that says how good a preset is, and why it is set up so.

``write_report(preset, out_dir)`` fits the preset on MNIST's 60,000 training digits, classifies
the test set once and writes, readable offline with nothing but a browser:

* ``metrics.json`` — error rate, per-class precision/recall/F1, the confusion matrix, timings,
  the preset's parameters and the validation scores behind them, data checksum, versions;
* ``confusion.png``, ``mistakes.png`` (each wrong digit beside the training digits that voted),
  ``accuracy_vs_k.png`` and, for presets with such parameters, validation error against PCA
  dimensions and against the number of re-ranked candidates N;
* ``report.html``, tying them together with a few sentences each.

The package never prints; long steps call ``progress(step, done, total)``, which the CLI turns
into progress bars. By concept:

* :mod:`.validation` — the validation split, k-curves and parameter sweeps (training set only);
* :mod:`.figures` — the PNGs, drawn with matplotlib (imported lazily: ``import knn_digits``
  stays light);
* :mod:`.page` — report.html;
* here — ``write_report``, which runs them in order and writes metrics.json, and
  ``report_figures``, which reads a written report back for the app.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..evaluate import evaluate_model, per_class_scores
from ..models import DigitModel, Preset, get_preset
from .figures import (
    _CONFUSION,
    _K_CURVE,
    _MISTAKES,
    _Figure,
    _plot_confusion,
    _plot_k_curves,
    _plot_mistakes,
    _plot_sweep,
)
from .page import _html
from .validation import (
    _SUBSET_SEED,
    K_MAX,
    N_FIT_VALIDATION,
    N_VALIDATION,
    N_VALIDATION_SLOW,
    SWEEPS,
    TUNING_TABLE,
    VALIDATION_METRICS,
    Progress,
    Sweep,
    _applicable_sweeps,
    _k_curves,
    _n_queries,
    _preset_metric,
    _sweep_curve,
    _tuning_section,
    validation_indices,
)

__all__ = [
    "K_MAX",
    "SWEEPS",
    "VALIDATION_METRICS",
    "Progress",
    "Sweep",
    "report_figures",
    "validation_indices",
    "write_report",
]


def _environment() -> dict[str, Any]:
    import matplotlib
    import scipy

    from .. import __version__

    return {
        "versions": {
            "knn_digits": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "matplotlib": matplotlib.__version__,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "architecture": platform.machine(),
        },
    }


def write_report(
    preset: str | Preset,
    out_dir: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    n_validation: int = N_VALIDATION,
    n_validation_slow: int = N_VALIDATION_SLOW,
    progress: Progress | None = None,
) -> Path:
    """Evaluate a preset on the MNIST test set and write the report folder; returns report.html.

    Parameters
    ----------
    preset : a name from ``PRESETS`` or a ``Preset``.
    out_dir : the folder to write (created if needed); files of an earlier report are replaced.
    data_dir : MNIST IDX files; default the copy shipped with the package.
    limit : classify only the first ``limit`` test digits (quick looks and tests); default all.
    n_validation : validation digits for the fast metrics (Euclidean, cosine), default 10,000.
    n_validation_slow : validation digits for Manhattan, Minkowski and presets with a second
        stage (IDM), whose queries cost 5–100× more; default 2,000.
    progress : called as ``progress(step, done, total)`` while long steps run.

    For ``raw`` on two cores this takes about two minutes, most of it the validation curves.

    >>> write_report("raw", "report", limit=1000)          # doctest: +SKIP
    PosixPath('report/report.html')
    """
    started = time.perf_counter()
    spec = get_preset(preset)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 test digit, got {limit}")
    for name, n in (("n_validation", n_validation), ("n_validation_slow", n_validation_slow)):
        if n < 1:
            raise ValueError(f"{name} must be at least 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = datasets.load_mnist("train", data_dir)
    test_images, test_labels = datasets.load_mnist("test", data_dir)
    test_images, test_labels = test_images[:limit], test_labels[:limit]

    validation, sweeps = _validate(spec, train, n_validation, n_validation_slow, progress)

    # The final model: all training digits, then the test set, classified once.
    step = f"fitting {spec.name} on {len(train[0]):,} digits"
    if progress:
        progress(step, 0, 1)
    fit_started = time.perf_counter()
    model = DigitModel(spec).fit(*train)
    fit_seconds = time.perf_counter() - fit_started
    if progress:
        progress(step, 1, 1)
    classified = 0

    def tick(n_done: int) -> None:
        nonlocal classified
        classified += n_done
        if progress:
            progress("classifying the test digits", classified, len(test_images))

    result = evaluate_model(model, test_images, test_labels, progress=tick)

    figures = [_CONFUSION, _MISTAKES, _K_CURVE] + [
        _Figure(sweep.filename, f"Validation error against {sweep.label}", sweep.explanation)
        for sweep, _ in sweeps
    ]
    step = "drawing the figures"
    if progress:
        progress(step, 0, len(figures))
    _plot_confusion(result.confusion, out / _CONFUSION.filename)
    _plot_mistakes(model, test_images, result.labels, result.predictions, out / _MISTAKES.filename)
    _plot_k_curves(validation["k_curves"], spec, out / _K_CURVE.filename)
    for sweep, curve in sweeps:
        _plot_sweep(curve, sweep, spec, out / sweep.filename)
    if progress:
        progress(step, len(figures), len(figures))

    metrics = {
        "preset": spec.name,
        "description": spec.description,
        "params": dataclasses.asdict(spec),
        "n_test": result.n_test,
        "limit": limit,
        "error_rate": result.error_rate,
        "n_errors": int(np.sum(result.predictions != result.labels)),
        "confusion_matrix": result.confusion.tolist(),
        "per_class": {
            "digit": list(range(10)),
            "support": result.confusion.sum(axis=1).tolist(),
            **{name: v.tolist() for name, v in per_class_scores(result.confusion).items()},
        },
        "timings": {
            "fit_seconds": fit_seconds,
            "predict_seconds": result.predict_seconds,
            "predict_ms_per_image": 1000 * result.predict_seconds / result.n_test,
            "images_per_second": result.n_test / result.predict_seconds,
            "validation_seconds": validation.pop("seconds"),
            "total_seconds": time.perf_counter() - started,
        },
        "validation": validation,
        "data": {
            "checksum": datasets.data_checksum(data_dir),
            "source": "packaged" if data_dir is None else str(data_dir),
            "n_train": len(train[0]),
        },
        **_environment(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "figures": [dataclasses.asdict(figure) for figure in figures],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    path = out / "report.html"
    path.write_text(_html(metrics, figures))
    return path


def _validate(
    preset: Preset,
    train: tuple[np.ndarray, np.ndarray],
    n_validation: int,
    n_validation_slow: int,
    progress: Progress | None,
) -> tuple[dict[str, Any], list[tuple[Sweep, dict[str, Any]]]]:
    """The evidence for the preset's parameters, from the training set alone.

    Returns the ``validation`` section of metrics.json (plus ``seconds``) and each applicable
    sweep with its curve.
    """
    started = time.perf_counter()
    fit = (train[0][:N_FIT_VALIDATION], train[1][:N_FIT_VALIDATION])
    validation = (train[0][N_FIT_VALIDATION:], train[1][N_FIT_VALIDATION:])
    k_curves = _k_curves(
        preset,
        fit,
        validation,
        n_validation=n_validation,
        n_validation_slow=n_validation_slow,
        progress=progress,
    )
    n_sweep = _n_queries(preset, _preset_metric(preset)[0], n_validation, n_validation_slow)
    # SWEEPS and TUNING_TABLE are read from this package at call time, so a caller (a test)
    # can substitute its own.
    sweeps = [
        (sweep, _sweep_curve(preset, sweep, fit, validation, n_sweep, progress))
        for sweep in _applicable_sweeps(preset, SWEEPS)
    ]
    own = next(c for c in k_curves if (c["metric"], c["p"]) == _preset_metric(preset))
    k = preset.n_neighbors
    best_k = int(np.argmin(own["error"])) + 1  # the first of equal minima: the smallest k
    section = {
        "split": {
            "fit": f"training images 0–{N_FIT_VALIDATION - 1}",
            "validate": f"training images {N_FIT_VALIDATION}–{len(train[0]) - 1}",
            "subset_seed": _SUBSET_SEED,
        },
        "chosen": {
            "n_neighbors": k,
            "metric": preset.metric,
            "p": preset.p,
            "error": own["error"][k - 1] if k <= K_MAX else None,
            "n_validation": own["n_validation"],
            "best_k": best_k,
            "best_k_error": own["error"][best_k - 1],
        },
        "tuning_table": _tuning_section(preset.name, TUNING_TABLE),
        "k_curves": k_curves,
        "sweeps": [curve for _, curve in sweeps],
        "seconds": time.perf_counter() - started,
    }
    return section, sweeps


def report_figures(out_dir: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """The figures of a written report, in reading order, as (path, caption) pairs.

    For the app's "About the model" tab (``gr.Gallery`` takes exactly these pairs). Read from
    ``metrics.json``, so stale PNGs of an earlier report in the same folder are left out; an
    empty list when no report is there.
    """
    folder = Path(out_dir)
    try:
        listed = json.loads((folder / "metrics.json").read_text())["figures"]
    except (OSError, ValueError, KeyError):
        return []
    return [
        (folder / figure["filename"], figure["title"])
        for figure in listed
        if (folder / figure["filename"]).is_file()
    ]
