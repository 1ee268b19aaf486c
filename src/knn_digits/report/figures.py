"""The report's figures, drawn with matplotlib.

matplotlib is imported inside the drawing functions only, so ``import knn_digits`` stays light,
and draws on the Agg canvas of standalone ``Figure`` objects: no pyplot global state, safe in
the app's worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import DigitModel, Preset
from .validation import K_MAX, Sweep, _metric_name, _preset_metric, _second_stage

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

N_MISTAKES = 12  # wrong test digits shown in mistakes.png


@dataclass(frozen=True)
class _Figure:
    """One figure of the report: its file, its title and the caption that explains it."""

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
