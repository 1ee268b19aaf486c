"""Validation curves: the evidence for a preset's parameters, from the training set alone.

Model selection is honest: every curve is measured on a validation split of the *training* set
(fit on images 0–49,999, validate on 50,000–59,999); the test set is only ever classified by the
final model. A k-curve costs one search for the ``K_MAX`` nearest neighbours per metric — the k
nearest are a prefix of those — and metrics without a matrix-product form (Manhattan,
Minkowski) are 30–200× slower, so they run on a smaller validation subset.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluate import error_by_k
from ..models import DigitModel, Preset
from ..neighbors.checks import normalise_metric

Progress = Callable[[str, int, int], None]
"""Told ``(step description, units done, units in this step)`` as a long step advances."""

K_MAX = 10  # k-curves cover k = 1..10, all from one search for the 10 nearest
N_FIT_VALIDATION = 50_000  # the classic split: fit on the first 50,000 training images …
N_VALIDATION = 10_000  # … and validate on the last 10,000 (the default subset: all of them)
N_VALIDATION_SLOW = 2_000  # an Lp or IDM query costs ~10 ms against 50,000 here: ~20 s a curve
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

TUNING_TABLE = Path(__file__).resolve().parents[3] / "docs" / "validation.md"
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


def _tuning_section(name: str, table: Path) -> dict[str, str] | None:
    """The preset's section of the tuning table ``table`` as {"source", "markdown"}, or None."""
    try:
        text = table.read_text(encoding="utf-8")
    except OSError:
        return None
    for section in re.split(r"(?m)^(?=## )", text):
        if section.startswith(f"## `{name}`"):
            source = f"{table.parent.name}/{table.name}"  # docs/validation.md
            return {"source": source, "markdown": section.strip()}
    return None


def _n_queries(preset: Preset, metric: str, n_validation: int, n_validation_slow: int) -> int:
    """Validation digits to spend: all of them only where a query costs one BLAS product row."""
    cheap = metric in _FAST_METRICS and not _second_stage(preset)
    return n_validation if cheap else n_validation_slow


def _second_stage(preset: Preset) -> bool:
    """Whether the preset re-ranks first-stage candidates (``rerank`` = N > 0)."""
    return bool(getattr(preset, "rerank", 0))


def _applicable_sweeps(preset: Preset, sweeps: Sequence[Sweep]) -> list[Sweep]:
    """The sweeps whose parameter this preset has and uses (a None or 0 means "step off")."""
    return [sweep for sweep in sweeps if getattr(preset, sweep.field, None)]
