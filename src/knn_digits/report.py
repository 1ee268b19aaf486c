"""The evaluation report: one folder that says how good a preset is, and why it is set up so.

``write_report(preset, out_dir)`` fits the preset on MNIST's 60,000 training digits, classifies
the test set once and writes, readable offline with nothing but a browser:

* ``metrics.json`` — error rate, per-class precision/recall/F1, the confusion matrix, timings,
  the preset's parameters and the validation scores behind them, data checksum, versions;
* ``confusion.png``, ``mistakes.png`` (each wrong digit beside the training digits that voted),
  ``accuracy_vs_k.png`` and, for presets with such parameters, validation error against PCA
  dimensions and against the number of re-ranked candidates N;
* ``report.html``, tying them together with a few sentences each.

Model selection is honest: every curve is measured on a validation split of the *training* set
(fit on images 0–49,999, validate on 50,000–59,999); the test set is only ever classified by the
final model. A k-curve costs one search for the ``K_MAX`` nearest neighbours per metric — the k
nearest are a prefix of those — and metrics without a matrix-product form (Manhattan,
Minkowski) are 30–200× slower, so they run on a smaller validation subset.

matplotlib is imported inside the drawing functions only, so ``import knn_digits`` stays light,
and draws on the Agg canvas of standalone ``Figure`` objects: no pyplot global state, safe in
the app's worker threads. The module never prints; long steps call ``progress(step, done,
total)``, which the CLI turns into progress bars.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import html
import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import datasets
from .evaluate import error_by_k, evaluate_model, per_class_scores
from .models import DigitModel, Preset, get_preset
from .neighbors.checks import normalise_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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

Progress = Callable[[str, int, int], None]
"""Told ``(step description, units done, units in this step)`` as a long step advances."""

K_MAX = 10  # k-curves cover k = 1..10, all from one search for the 10 nearest
N_FIT_VALIDATION = 50_000  # the classic split: fit on the first 50,000 training images …
N_VALIDATION = 10_000  # … and validate on the last 10,000 (the default subset: all of them)
N_VALIDATION_SLOW = 2_000  # an Lp or IDM query costs ~10 ms against 50,000 here: ~20 s a curve
N_MISTAKES = 12  # wrong test digits shown in mistakes.png
_BATCH = 500  # queries per progress tick
_SUBSET_SEED = 0  # fixed, so every run and every metric sees the same validation digits

VALIDATION_METRICS: tuple[tuple[str, float], ...] = (
    ("euclidean", 2.0),
    ("cosine", 2.0),
    ("manhattan", 1.0),
    ("minkowski", 3.0),
)
"""(metric, p) pairs of the k-curves; the preset's own metric is added when it is not here."""

_FAST_METRICS = frozenset({"euclidean", "cosine"})  # one BLAS product per chunk of queries

TUNING_TABLE = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
"""The grid search behind the tuned presets, written by ``benchmarks/tune.py`` (one section per
preset, headed ``## `name` …``). It lives in the source checkout; without it the report still
has its own validation curves."""


@dataclass(frozen=True)
class Sweep:
    """A preset parameter whose validation curve the report draws when the preset has it."""

    field: str  # the Preset field varied (dataclasses.replace), all else kept
    label: str  # the x-axis label
    filename: str
    values: tuple[int, ...]  # tried besides the preset's own value
    explanation: str


SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "pca",
        "PCA dimensions",
        "error_vs_pca.png",
        (20, 30, 40, 50, 60),
        "Validation error against the number of principal components kept. Too few lose the "
        "shape of the digit; too many bring back pixel noise and cost time in every distance.",
    ),
    Sweep(
        "rerank",
        "candidates re-ranked (N)",
        "error_vs_n.png",
        (10, 20, 50, 100, 200),  # tangent distance re-ranks tens, IDM hundreds
        "Validation error against N, the number of first-stage candidates the expensive "
        "distance re-ranks. Larger N finds the true neighbours more often and costs linearly.",
    ),
)


@dataclass(frozen=True)
class _Figure:
    filename: str
    title: str
    explanation: str


_CONFUSION = _Figure(
    "confusion.png",
    "Confusion matrix",
    "Rows are the true digits, columns the predictions; the diagonal holds the correct "
    "answers. Off-diagonal cells show which digits the model mixes up (colour is on a log "
    "scale so that single mistakes stay visible).",
)
_MISTAKES = _Figure(
    "mistakes.png",
    "Mistakes and the neighbours that caused them",
    "Misclassified test digits (true → predicted, in red) next to their nearest training "
    "digits, nearest first, each with its label (red: the wrongly predicted class). A k-NN is "
    "only as right as its neighbours: often the nearest training digits really do look like "
    "the wrong class.",
)
_K_CURVE = _Figure(
    "accuracy_vs_k.png",
    "Validation error against k, for each distance",
    "Fit on the first 50,000 training images, measured on the last 10,000 (or a fixed random "
    "subset of them, size in the legend); bands are ±1 standard error. The test set plays no "
    "part in choosing k or the distance. The star marks the preset's choice. k = 2 always "
    "equals k = 1 here: a 1–1 tie goes to the nearer neighbour.",
)


# --------------------------------------------------------------------------- validation


def validation_indices(n: int) -> np.ndarray:
    """Which of the last 10,000 training images (0-based within them) make a subset of size n.

    A fixed random subset, not the first n, because MNIST's training file is grouped by writer.
    Subsets are nested (a smaller one is part of a larger one), so curves measured on different
    sizes are comparable. Returns sorted int64 of shape (min(n, 10,000),).

    >>> bool(np.isin(validation_indices(50), validation_indices(500)).all())
    True
    """
    if n < 1:
        raise ValueError(f"a validation subset needs at least 1 image, got {n}")
    order = np.random.default_rng(_SUBSET_SEED).permutation(N_VALIDATION)
    return np.sort(order[:n])


def _preset_metric(preset: Preset) -> tuple[str, float]:
    """The preset's distance as a (metric, p) pair in the spelling of VALIDATION_METRICS."""
    return normalise_metric(preset.metric, preset.p)


def _metric_name(metric: str, p: float) -> str:
    return f"minkowski p={p:g}" if metric == "minkowski" else metric


def _in_batches(
    compute: Callable[[np.ndarray], Any],
    images: np.ndarray,
    step: str,
    progress: Progress | None,
) -> list[Any]:
    """``compute`` on batches of images, with a progress tick after each; the list of results."""
    results = []
    for start in range(0, len(images), _BATCH):
        results.append(compute(images[start : start + _BATCH]))
        if progress:
            progress(step, min(start + _BATCH, len(images)), len(images))
    return results


def _k_curves(
    preset: Preset,
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    n_validation: int,
    n_validation_slow: int,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Validation error for k = 1..K_MAX under each metric, the preset's other choices kept.

    A preset with a second stage (``rerank`` candidates re-ranked by an expensive distance) gets
    only its own curve, on the small subset: its neighbours are the re-ranker's, the metric only
    picks the candidates, and each query costs hundreds of expensive comparisons.
    """
    metrics = [_preset_metric(preset)]
    if not _second_stage(preset):
        metrics = [*VALIDATION_METRICS, *(m for m in metrics if m not in VALIDATION_METRICS)]
    curves = []
    for metric, p in metrics:
        rows = validation_indices(_n_queries(preset, metric, n_validation, n_validation_slow))
        images, labels = validation[0][rows], validation[1][rows]
        step = f"validation k-curve, {_metric_name(metric, p)}"
        model = DigitModel(dataclasses.replace(preset, metric=metric, p=p)).fit(*fit)
        search = functools.partial(model.kneighbors, n_neighbors=K_MAX)
        found = _in_batches(search, images, step, progress)
        distances = np.concatenate([d for d, _ in found])  # (n, K_MAX)
        indices = np.concatenate([i for _, i in found])  # (n, K_MAX)
        errors = error_by_k(
            distances**preset.weight_power,  # the vote DigitModel casts: 1/d^power
            model.train_labels_[indices],
            labels,
            weights=preset.weights,
        )
        curves.append(
            {
                "metric": metric,
                "p": p,
                "k": list(range(1, K_MAX + 1)),
                "error": errors.tolist(),
                "n_validation": len(rows),
            }
        )
    return curves


def _sweep_curve(
    preset: Preset,
    sweep: Sweep,
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    n_validation: int,
    progress: Progress | None,
) -> dict[str, Any]:
    """Validation error of the preset with ``sweep.field`` set to each of its values in turn."""
    chosen = getattr(preset, sweep.field)
    values = sorted({*sweep.values, chosen})
    rows = validation_indices(n_validation)
    images, labels = validation[0][rows], validation[1][rows]
    errors = []
    for value in values:
        model = DigitModel(dataclasses.replace(preset, **{sweep.field: value})).fit(*fit)
        step = f"validation, {sweep.label} = {value}"
        predictions = np.concatenate(_in_batches(model.predict, images, step, progress))
        errors.append(float(np.mean(predictions != labels)))
    return {
        "field": sweep.field,
        "values": values,
        "error": errors,
        "chosen": chosen,
        "n_validation": len(rows),
    }


def _tuning_section(name: str) -> dict[str, str] | None:
    """The preset's section of the tuning table as {"source", "markdown"}, or None."""
    try:
        text = TUNING_TABLE.read_text(encoding="utf-8")
    except OSError:
        return None
    for section in re.split(r"(?m)^(?=## )", text):
        if section.startswith(f"## `{name}`"):
            source = f"{TUNING_TABLE.parent.name}/{TUNING_TABLE.name}"  # docs/validation.md
            return {"source": source, "markdown": section.strip()}
    return None


def _n_queries(preset: Preset, metric: str, n_validation: int, n_validation_slow: int) -> int:
    """Validation digits to spend: all of them only where a query costs one BLAS product row."""
    cheap = metric in _FAST_METRICS and not _second_stage(preset)
    return n_validation if cheap else n_validation_slow


def _second_stage(preset: Preset) -> bool:
    """Whether the preset re-ranks first-stage candidates (``rerank`` = N > 0)."""
    return bool(getattr(preset, "rerank", 0))


def _applicable_sweeps(preset: Preset) -> list[Sweep]:
    """The sweeps whose parameter this preset has and uses (a None or 0 means "step off")."""
    return [sweep for sweep in SWEEPS if getattr(preset, sweep.field, None)]


# --------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float) -> Figure:
    """A standalone figure on the Agg canvas (lazy import: only reports need matplotlib)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _plot_confusion(confusion: np.ndarray, path: Path) -> None:
    from matplotlib.colors import LogNorm

    figure = _new_figure(6.2, 5.4)
    ax = figure.add_subplot()
    shown = np.where(confusion > 0, confusion, np.nan)  # empty cells stay white
    norm = LogNorm(vmin=0.5, vmax=max(2, confusion.max()))  # vmin < 1: a single 1 stays visible
    image = ax.imshow(shown, cmap="Blues", norm=norm)
    threshold = np.sqrt(max(2, confusion.max()))  # dark cells (log scale) get white text
    for (row, col), count in np.ndenumerate(confusion):
        if count:
            colour = "white" if count > threshold else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix ({int(confusion.sum()):,} test digits)")
    figure.colorbar(image, ax=ax, label="count (log scale)")
    figure.savefig(path)


def _plot_mistakes(
    model: DigitModel,
    images: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    path: Path,
) -> None:
    """The first ``N_MISTAKES`` wrong digits, each followed by the training digits that voted.

    Two groups of rows side by side keep the picture compact. ``images`` (n, 28, 28) uint8 are
    the classified digits, ``true`` and ``predicted`` (n,) their labels and the model's answers.
    """
    wrong = np.flatnonzero(predicted != true)[:N_MISTAKES]
    n_shown = min(model.n_neighbors, 5)  # beyond 5 the rows get too wide to read
    group = 1 + n_shown  # columns per mistake: the digit and its neighbours
    n_rows = max(1, -(-len(wrong) // 2))
    figure = _new_figure(0.9 * (2 * group + 0.5), 1.05 * n_rows + 0.4)
    if not len(wrong):
        figure.text(0.5, 0.5, "no misclassified digits", ha="center", va="center")
        figure.savefig(path)
        return
    _, neighbours = model.kneighbors(images[wrong], n_shown)  # (m, n_shown) into train_images_
    grid = figure.add_gridspec(
        n_rows, 2 * group + 1, width_ratios=[1] * group + [0.5] + [1] * group
    )
    for m, (i, row_neighbours) in enumerate(zip(wrong, neighbours, strict=True)):
        row, first_col = m % n_rows, (m // n_rows) * (group + 1)
        labels = model.train_labels_[row_neighbours]
        cells = [
            (images[i], f"{true[i]} → {predicted[i]}", "red"),
            *(
                (model.train_images_[j], str(label), "red" if label == predicted[i] else "black")
                for j, label in zip(row_neighbours, labels, strict=True)
            ),
        ]
        for offset, (cell, title, colour) in enumerate(cells):
            _show_digit(figure.add_subplot(grid[row, first_col + offset]), cell, title, colour)
    figure.suptitle("mistakes (true → predicted), then the nearest training digits")
    figure.savefig(path)


def _show_digit(ax: Axes, image: np.ndarray, title: str, colour: str) -> None:
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
    ax.set_title(title, color=colour, fontsize=9, pad=2)
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_with_band(
    ax: Axes, x: Sequence[float], errors: np.ndarray, n: int, label: str | None
) -> str:
    """Error rates in %, with a shaded ±1 binomial standard error (n digits); the line colour.

    The band shows at a glance which differences are noise: 2,000 digits at 3 % error give
    ±0.4 points.
    """
    from matplotlib.colors import to_hex

    spread = np.sqrt(errors * (1 - errors) / n)
    (line,) = ax.plot(x, 100 * errors, marker="o", markersize=3, label=label)
    colour = to_hex(line.get_color())
    ax.fill_between(x, 100 * (errors - spread), 100 * (errors + spread), color=colour, alpha=0.15)
    return colour


def _plot_k_curves(curves: list[dict[str, Any]], preset: Preset, path: Path) -> None:
    figure = _new_figure(6.4, 4.4)
    ax = figure.add_subplot()
    for curve in curves:
        errors = np.asarray(curve["error"])
        name = _metric_name(curve["metric"], curve["p"])
        if _second_stage(preset):  # the metric only picks the candidates IDM then ranks
            name = f"{name} candidates, IDM re-ranked"
        label = f"{name} (n={curve['n_validation']:,})"
        colour = _plot_with_band(ax, curve["k"], errors, curve["n_validation"], label)
        k = preset.n_neighbors
        if (curve["metric"], curve["p"]) == _preset_metric(preset) and k <= K_MAX:
            ax.plot(k, 100 * errors[k - 1], "*", markersize=15, color=colour, zorder=5)
    ax.set_xticks(range(1, K_MAX + 1))
    ax.set_xlabel("k (neighbours that vote)")
    ax.set_ylabel("validation error (%)")
    ax.set_title(f"{preset.name}: validation error against k")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.savefig(path)


def _plot_sweep(curve: dict[str, Any], sweep: Sweep, preset: Preset, path: Path) -> None:
    figure = _new_figure(6.4, 4.2)
    ax = figure.add_subplot()
    errors = np.asarray(curve["error"])
    colour = _plot_with_band(ax, curve["values"], errors, curve["n_validation"], None)
    chosen = curve["values"].index(curve["chosen"])
    ax.plot(curve["chosen"], 100 * errors[chosen], "*", markersize=15, color=colour, zorder=5)
    ax.set_xlabel(sweep.label)
    ax.set_ylabel("validation error (%)")
    ax.set_title(
        f"{preset.name}: validation error against {sweep.label} (n={curve['n_validation']:,})"
    )
    ax.grid(alpha=0.3)
    figure.savefig(path)


# --------------------------------------------------------------------------- the report


def _environment() -> dict[str, Any]:
    import matplotlib
    import scipy

    from . import __version__

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
    sweeps = [
        (sweep, _sweep_curve(preset, sweep, fit, validation, n_sweep, progress))
        for sweep in _applicable_sweeps(preset)
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
        "tuning_table": _tuning_section(preset.name),
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


# --------------------------------------------------------------------------- HTML

_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .lead { color: #555; margin-top: 0; }
.big { font-size: 2.2rem; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5rem 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; max-width: 45rem; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, escape: bool = True) -> str:
    """An HTML table; ``escape=False`` for cells that already are HTML."""

    def cell(value: Any) -> str:
        return html.escape(str(value)) if escape else str(value)

    head = "".join(f"<th>{cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _markdown_html(markdown: str) -> str:
    """The little Markdown the tuning table uses: headings, paragraphs, pipe tables, `code`."""

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)

    parts = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.strip().splitlines()
        if lines[0].startswith("#"):
            parts.append(f"<h3>{inline(lines[0].lstrip('#').strip())}</h3>")
            lines = lines[1:]
        if lines and all(line.startswith("|") for line in lines):
            rows = [
                [inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
                for line in lines
                if not re.fullmatch(r"[|\s:-]+", line)  # the |---|---| separator
            ]
            parts.append(_table(rows[0], rows[1:], escape=False))
        elif lines:
            parts.append(f"<p>{inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _html(metrics: dict[str, Any], figures: Sequence[_Figure]) -> str:
    """report.html: the headline numbers, the figures with a few words each, the provenance.

    Images are referenced by file name, next to the page: the folder is the report.
    """
    timings, chosen = metrics["timings"], metrics["validation"]["chosen"]
    per_class = metrics["per_class"]
    params = ", ".join(
        f"{name}={value}"
        for name, value in metrics["params"].items()
        if name not in ("name", "description")  # already the page's heading
    )
    subset = "" if metrics["limit"] is None else " (the first ones only: a partial run)"
    chosen_error = (
        f"{100 * chosen['error']:.2f} %" if chosen["error"] is not None else "not measured"
    )
    class_rows = [
        (d, s, f"{100 * p:.1f}", f"{100 * r:.1f}", f"{100 * f:.1f}")
        for d, s, p, r, f in zip(
            per_class["digit"],
            per_class["support"],
            per_class["precision"],
            per_class["recall"],
            per_class["f1"],
            strict=True,
        )
    ]
    figure_html = "".join(
        f'<figure><h3>{html.escape(f.title)}</h3><img src="{html.escape(f.filename)}" '
        f'alt="{html.escape(f.title)}"><figcaption>{html.escape(f.explanation)}</figcaption>'
        "</figure>"
        for f in figures
    )
    environment = metrics["versions"] | {"cores": metrics["machine"]["cpu_count"]}
    table = metrics["validation"]["tuning_table"]
    tuning = (
        ""
        if table is None
        else f"<p>The grid search that chose them ({html.escape(table['source'])}):</p>"
        + _markdown_html(table["markdown"])
    )
    esc = html.escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>knn-digits report: {esc(metrics["preset"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>knn-digits: preset <code>{esc(metrics["preset"])}</code></h1>
<p class="lead">{esc(metrics["description"])}</p>
<p><span class="big">{100 * metrics["error_rate"]:.2f} %</span> test error:
{metrics["n_errors"]:,} of {metrics["n_test"]:,} MNIST test digits wrong{esc(subset)}.</p>
<p>Fitted on {metrics["data"]["n_train"]:,} training digits in {timings["fit_seconds"]:.2f} s;
classified the test digits in {timings["predict_seconds"]:.2f} s
({timings["predict_ms_per_image"]:.2f} ms per digit, {timings["images_per_second"]:,.0f}/s).</p>

<h2>The parameters, on validation</h2>
<p>Parameters: <code>{esc(params)}</code>. Parameters are judged on a validation split of the
training set, never on the test set: fit on {esc(metrics["validation"]["split"]["fit"])},
measure on {esc(metrics["validation"]["split"]["validate"])}. There this preset's k and
distance give {chosen_error} error ({chosen["n_validation"]:,} validation digits); the best k
for its distance is {chosen["best_k"]} ({100 * chosen["best_k_error"]:.2f} %). The test error
above is measured once, by the model fitted on all training digits.</p>
{tuning}

<h2>Per digit</h2>
<p>Precision: of the digits predicted as this class, the share that were. Recall: of the digits
of this class, the share found. F1 is their harmonic mean.</p>
{_table(("digit", "test digits", "precision %", "recall %", "F1 %"), class_rows)}

<h2>Figures</h2>
{figure_html}

<h2>Provenance</h2>
<p>All numbers are in <a href="metrics.json">metrics.json</a>. Data checksum
<code>{esc(metrics["data"]["checksum"])}</code> ({esc(metrics["data"]["source"])} MNIST files);
written {esc(metrics["created"])}.</p>
{_table(("", "version"), sorted(environment.items()))}
</body></html>
"""
