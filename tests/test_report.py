"""The report: consistent numbers, real images, an HTML page with no broken links.

One small report (300 test digits, small validation subsets) is written once per module; the
tests read it. A sweep over ``n_neighbors`` stands in for the PCA and N sweeps, which need
preset fields that ``raw`` has not.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from knn_digits import report
from knn_digits.datasets import data_checksum
from knn_digits.models import PRESETS, DigitModel, Preset

LIMIT = 300
N_VALIDATION = 300
N_VALIDATION_SLOW = 50
K_SWEEP = report.Sweep("n_neighbors", "k", "error_vs_k_sweep.png", (1, 5), "k, swept.")
TUNING_TABLE = """# Validation results

## `fast`: not this preset

| k | error % |
| --- | --- |
| 9 | 9.99 |

## `raw`: raw pixels

Rule: the **lowest** error.

| k | error % |
| --- | --- |
| 3 | 2.71 **← chosen** |
| 1 | 2.88 |
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int, int]]]:
    """(report.html, every progress call) of one small raw-pixel report."""
    calls: list[tuple[str, int, int]] = []
    table = tmp_path_factory.mktemp("docs") / "validation.md"
    table.write_text(TUNING_TABLE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "SWEEPS", (K_SWEEP,))
        patch.setattr(report, "TUNING_TABLE", table)
        path = report.write_report(
            "raw",
            tmp_path_factory.mktemp("report"),
            limit=LIMIT,
            n_validation=N_VALIDATION,
            n_validation_slow=N_VALIDATION_SLOW,
            progress=lambda step, done, total: calls.append((step, done, total)),
        )
    return path, calls


@pytest.fixture(scope="module")
def metrics(written: tuple[Path, Any]) -> dict[str, Any]:
    return json.loads((written[0].parent / "metrics.json").read_text())


def test_confusion_matrix_agrees_with_error_rate_and_per_class_scores(
    metrics: dict[str, Any],
) -> None:
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == metrics["n_test"] == LIMIT
    assert 1 - np.trace(confusion) / confusion.sum() == pytest.approx(metrics["error_rate"])
    assert metrics["n_errors"] == confusion.sum() - np.trace(confusion)
    per_class = metrics["per_class"]
    assert per_class["support"] == confusion.sum(axis=1).tolist()
    np.testing.assert_allclose(per_class["recall"], np.diag(confusion) / confusion.sum(axis=1))
    np.testing.assert_allclose(per_class["precision"], np.diag(confusion) / confusion.sum(axis=0))
    p, r = np.array(per_class["precision"]), np.array(per_class["recall"])
    np.testing.assert_allclose(per_class["f1"], 2 * p * r / (p + r))
    assert 0 < metrics["error_rate"] < 0.1  # raw pixels: ~3 %, on 300 digits a little noisy


def test_metrics_record_parameters_timings_and_provenance(metrics: dict[str, Any]) -> None:
    # As JSON keeps them (tuples become lists).
    assert metrics["params"] == json.loads(json.dumps(dataclasses.asdict(PRESETS["raw"])))
    timings = metrics["timings"]
    assert timings["fit_seconds"] > 0 and timings["predict_seconds"] > 0
    assert timings["predict_ms_per_image"] == pytest.approx(
        1000 * timings["predict_seconds"] / LIMIT
    )
    assert metrics["data"]["checksum"] == data_checksum()
    assert set(metrics["versions"]) >= {"knn_digits", "python", "numpy", "scipy"}
    assert metrics["machine"]["cpu_count"] >= 1


def test_k_curves_cover_every_metric_on_the_validation_split(metrics: dict[str, Any]) -> None:
    curves = {(c["metric"], c["p"]): c for c in metrics["validation"]["k_curves"]}
    assert set(curves) == set(report.VALIDATION_METRICS)
    for (metric, _), curve in curves.items():
        assert curve["k"] == list(range(1, report.K_MAX + 1))
        fast = metric in ("euclidean", "cosine")
        assert curve["n_validation"] == (N_VALIDATION if fast else N_VALIDATION_SLOW)
        # k = 2 never beats k = 1: a 1–1 tie goes to the nearer neighbour.
        assert curve["error"][1] == curve["error"][0]
    chosen, euclidean = metrics["validation"]["chosen"], curves[("euclidean", 2.0)]["error"]
    assert chosen["error"] == euclidean[PRESETS["raw"].n_neighbors - 1]
    assert chosen["best_k_error"] == min(euclidean) == euclidean[chosen["best_k"] - 1]


def test_the_presets_section_of_the_tuning_table_is_kept_and_shown(
    metrics: dict[str, Any], written: tuple[Path, Any]
) -> None:
    markdown = metrics["validation"]["tuning_table"]["markdown"]
    assert markdown.startswith("## `raw`") and "9.99" not in markdown
    page = written[0].read_text()
    assert "<td>2.71 <b>← chosen</b></td>" in page
    assert "9.99" not in page


def test_k_curve_equals_the_model_fitted_on_the_validation_split(
    metrics: dict[str, Any], mnist_train: tuple[np.ndarray, np.ndarray]
) -> None:
    """The one-search k-curve gives what fitting k-NN for that k and predicting gives."""
    images, labels = mnist_train
    rows = report.N_FIT_VALIDATION + report.validation_indices(N_VALIDATION)
    model = DigitModel(PRESETS["raw"]).fit(
        images[: report.N_FIT_VALIDATION], labels[: report.N_FIT_VALIDATION]
    )
    expected = np.mean(model.predict(images[rows]) != labels[rows])
    curve = next(c for c in metrics["validation"]["k_curves"] if c["metric"] == "euclidean")
    assert curve["error"][model.n_neighbors - 1] == pytest.approx(expected)


def test_a_reranked_preset_gets_only_its_own_k_curve_on_the_small_subset(
    mnist_train: tuple[np.ndarray, np.ndarray],
) -> None:
    """Its neighbours are the re-ranker's; other first-stage metrics would only cost time."""

    images, labels = mnist_train
    curves = report._k_curves(
        Preset("reranked", "a preset with a second stage", metric="cosine", rerank=20),
        (images[:2_000], labels[:2_000]),
        (images[report.N_FIT_VALIDATION :], labels[report.N_FIT_VALIDATION :]),
        n_validation=10_000,
        n_validation_slow=20,
        progress=None,
    )
    assert [(c["metric"], c["n_validation"]) for c in curves] == [("cosine", 20)]


def test_sweep_curve_lists_the_presets_own_value(metrics: dict[str, Any]) -> None:
    (sweep,) = metrics["validation"]["sweeps"]
    assert sweep["field"] == "n_neighbors"
    assert sweep["values"] == [1, 3, 5]  # the swept values plus the preset's 3
    assert sweep["chosen"] == 3
    assert sweep["n_validation"] == N_VALIDATION  # raw pixels, Euclidean: a cheap query
    assert all(0 <= e <= 1 for e in sweep["error"])


def test_validation_subsets_are_nested_and_fixed() -> None:
    small, large = report.validation_indices(100), report.validation_indices(2_000)
    assert np.isin(small, large).all()
    assert np.array_equal(small, report.validation_indices(100))
    assert len(report.validation_indices(10**6)) == report.N_VALIDATION
    assert small.max() < report.N_VALIDATION


def test_figures_are_valid_images_of_a_sensible_size(written: tuple[Path, Any]) -> None:
    out = written[0].parent
    names = [path.name for path, _ in report.report_figures(out)]
    assert names == ["confusion.png", "mistakes.png", "accuracy_vs_k.png", K_SWEEP.filename]
    for name in names:
        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert 300 <= min(image.size) and max(image.size) <= 2500, (name, image.size)
            # Not a blank canvas: a plot has many shades.
            assert len(image.convert("L").getcolors(maxcolors=256 * 256) or []) > 10


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value for name, value in attrs if name in ("src", "href") and value]


def test_html_refers_only_to_files_that_exist(written: tuple[Path, Any]) -> None:
    path = written[0]
    parser = _Links()
    parser.feed(path.read_text())
    assert parser.targets, "the report shows no figures"
    for target in parser.targets:
        assert "://" not in target and not target.startswith("/"), target  # offline, portable
        assert (path.parent / target).is_file(), target
    shown = {target for target in parser.targets if target.endswith(".png")}
    assert shown == {path.name for path, _ in report.report_figures(path.parent)}


def test_report_figures_ignores_stale_files_and_missing_reports(
    written: tuple[Path, Any], tmp_path: Path
) -> None:
    assert report.report_figures(tmp_path) == []
    (written[0].parent / "error_vs_pca.png").write_bytes(b"left over from another preset")
    try:
        listed = [path.name for path, _ in report.report_figures(written[0].parent)]
    finally:
        (written[0].parent / "error_vs_pca.png").unlink()
    assert "error_vs_pca.png" not in listed


def test_progress_reaches_the_end_of_every_step(written: tuple[Path, Any]) -> None:
    calls = written[1]
    last: dict[str, tuple[int, int]] = {}
    for step, done, total in calls:
        assert 0 <= done <= total
        assert done >= last.get(step, (0, 0))[0], step  # never goes backwards
        last[step] = (done, total)
    assert all(done == total for done, total in last.values())
    assert last["classifying the test digits"] == (LIMIT, LIMIT)
    assert any(step.startswith("validation k-curve") for step in last)


@pytest.mark.parametrize("bad", [{"limit": 0}, {"n_validation": 0}, {"n_validation_slow": -1}])
def test_bad_sizes_are_refused_before_any_work(tmp_path: Path, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        report.write_report("raw", tmp_path / "out", **bad)
    assert not (tmp_path / "out").exists()


def test_importing_the_package_does_not_import_matplotlib() -> None:
    code = (
        "import sys, knn_digits, knn_digits.report, knn_digits.evaluate; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
