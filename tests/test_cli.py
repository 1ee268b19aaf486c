"""The CLI as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knn_digits.cli import main
from knn_digits.visitors import Limits


def test_evaluate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.json"
    assert main(["evaluate", "--limit", "300", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n_test"] == 300 and report["preset"] == "raw"
    assert 0 <= report["error_rate"] < 0.06
    assert report["params"]["n_neighbors"] == 3
    assert report["fit_seconds"] >= 0 and report["predict_seconds"] > 0
    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == 300
    assert np.isclose(1 - np.trace(confusion) / 300, report["error_rate"])
    printed = capsys.readouterr().out
    assert f"{100 * report['error_rate']:.2f} %" in printed and "per-class accuracy" in printed


def test_evaluate_overrides(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "evaluate",
                "--limit",
                "50",
                "--k",
                "1",
                "--metric",
                "cosine",
                "--weights",
                "distance",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    params = json.loads(out.read_text())["params"]
    assert (params["n_neighbors"], params["metric"], params["weights"]) == (1, "cosine", "distance")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--data-dir", "/no/such/dir"], "/no/such/dir: not a directory"),
        (["evaluate", "--limit", "0"], "--limit must be at least 1"),
        (["evaluate", "--k", "0", "--limit", "5"], "n_neighbors must be at least 1"),
        (["predict", "/no/such/file.png"], "file.png: no such file"),
    ],
)
def test_user_errors_exit_1_with_one_line(argv, message, capsys) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("knn-digits: error:")


def test_not_an_image_names_the_file(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not a picture")
    assert main(["predict", str(bogus)]) == 1
    assert f"{bogus.name}: not an image" in capsys.readouterr().err


def test_blank_image_names_the_file(tmp_path: Path, capsys) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    assert main(["predict", str(blank)]) == 1
    err = capsys.readouterr().err
    assert f"{blank}: No digit found" in err and len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2(capsys) -> None:
    for argv in (["evaluate", "--k", "three"], ["frobnicate"], []):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def _save_digit(path: Path, digit: np.ndarray, *, paper: bool, scale: int) -> None:
    """An MNIST digit as a file a person might have: enlarged, maybe dark ink on light paper."""
    pixels = 255 - digit if paper else digit
    Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR).save(path)


def test_predict_files(tmp_path: Path, mnist_test, capsys) -> None:
    images, labels = mnist_test
    paths = []
    for i in range(6):
        path = tmp_path / f"digit{i}.png"
        _save_digit(path, images[i], paper=i % 2 == 0, scale=1 + 3 * (i % 3))
        paths.append(str(path))
    assert main(["predict", *paths, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["file"] for row in rows] == paths
    assert [row["digit"] for row in rows] == labels[:6].tolist()
    for row in rows:
        assert 0 < row["confidence"] <= 1 and np.isclose(sum(row["probabilities"]), 1)
    assert main(["predict", paths[0]]) == 0
    assert capsys.readouterr().out.startswith(f"{paths[0]}: {labels[0]} (")


def _scan_folder(folder: Path, images: np.ndarray, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        _save_digit(folder / f"d{i}.png", images[i], paper=True, scale=3)


def test_predict_folder_with_a_broken_file(tmp_path: Path, mnist_test, capsys) -> None:
    images, labels = mnist_test
    folder = tmp_path / "scans"
    _scan_folder(folder, images, 4)
    (folder / "broken.png").write_text("not a picture")
    (folder / "notes.txt").write_text("not an image name: skipped")
    out = tmp_path / "out.csv"
    assert main(["predict", str(folder), "--csv", str(out), "--preset", "fast"]) == 1
    with out.open(newline="") as table:
        assert next(csv.reader(table)) == ["file", "prediction", "confidence", "error"]
        table.seek(0)
        rows = {Path(row["file"]).name: row for row in csv.DictReader(table)}
    assert sorted(rows) == ["broken.png", "d0.png", "d1.png", "d2.png", "d3.png"]
    broken = rows.pop("broken.png")
    assert broken["prediction"] == broken["confidence"] == ""
    assert broken["error"].startswith("not an image")
    for i in range(4):
        row = rows[f"d{i}.png"]
        assert row["prediction"] == str(labels[i]) and row["error"] == ""
        assert 0 < float(row["confidence"]) <= 1
    captured = capsys.readouterr()
    assert captured.out.strip() == f"4 classified, 1 failed: {out}"
    errors = captured.err.strip().splitlines()
    assert errors == [f"knn-digits: error: {folder / 'broken.png'}: {broken['error']}"]

    (folder / "broken.png").unlink()
    assert main(["predict", str(folder), "--csv", str(out), "--preset", "fast"]) == 0


def test_predict_globs_in_batches_with_a_bar(
    tmp_path: Path, mnist_test, monkeypatch, capsys
) -> None:
    from knn_digits import cli
    from knn_digits.models import DigitModel

    images, labels = mnist_test
    _scan_folder(tmp_path / "scans", images, 5)
    batches: list[int] = []
    explain = DigitModel.explain

    def counting(model: DigitModel, digits: np.ndarray) -> tuple[np.ndarray, ...]:
        batches.append(len(digits))
        return explain(model, digits)

    monkeypatch.setattr(DigitModel, "explain", counting)
    monkeypatch.setattr(cli, "PREDICT_BATCH", 2)
    pattern, nothing = str(tmp_path / "scans" / "*.png"), str(tmp_path / "*.gif")
    assert main(["predict", pattern, nothing, "--preset", "fast", "--json"]) == 1
    assert batches == [2, 2, 1]
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [row["digit"] for row in rows] == [*labels[:5].tolist(), None]
    assert rows[-1] == {
        "file": nothing,
        "digit": None,
        "confidence": None,
        "error": "no file matches this pattern",
    }
    assert "classifying" in captured.err  # the progress bar, as 6 entries > 2


def test_predict_breaks_ties_as_the_model_does(
    tmp_path: Path, mnist_test, monkeypatch, capsys
) -> None:
    """Three voters, three digits: the nearest voter's 9 wins, not argmax's lowest digit."""
    from knn_digits import models
    from knn_digits.preprocess import image_to_mnist, load_image

    images, _ = mnist_test
    scan = tmp_path / "scan.png"
    _save_digit(scan, images[0], paper=True, scale=3)
    seen = image_to_mnist(load_image(scan))
    nearest = np.clip(seen + 0.02, 0, 1)  # close, but not an exact match
    model = models.DigitModel("raw").fit(np.stack([images[1], nearest, images[2]]), [1, 9, 5])
    monkeypatch.setattr(models, "load_model", lambda *args, **kwargs: model)
    assert main(["predict", str(scan), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["probabilities"][1] == row["probabilities"][9] == row["probabilities"][5]
    assert row["digit"] == model.predict(seen[np.newaxis])[0] == 9


def test_predict_reads_image_files_with_the_presets_drawing_vote(
    tmp_path: Path, mnist_test, monkeypatch, capsys
) -> None:
    """An image file comes through the drawing pipeline: its digit is voted on by the preset's
    ``drawing_neighbors`` (here 3: two 5s outvote the nearest 9), not MNIST's k = 1."""
    from knn_digits import models
    from knn_digits.preprocess import image_to_mnist, load_image

    images, _ = mnist_test
    scan = tmp_path / "scan.png"
    _save_digit(scan, images[0], paper=True, scale=3)
    seen = image_to_mnist(load_image(scan))
    references = [np.clip(seen + shift, 0, 1) for shift in (0.02, 0.05, 0.06)] + [images[1]]
    preset = models.Preset("toy", "k = 1, drawings k = 3", n_neighbors=1, drawing_neighbors=3)
    model = models.DigitModel(preset).fit(np.stack(references), [9, 5, 5, 1])
    monkeypatch.setattr(models, "load_model", lambda *args, **kwargs: model)
    assert main(["predict", str(scan), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert model.predict(seen[np.newaxis])[0] == 9
    assert row["digit"] == model.for_drawings().predict(seen[np.newaxis])[0] == 5


def test_predict_unwritable_csv_is_a_user_error(tmp_path: Path, capsys) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.csv"
    assert main(["predict", str(tmp_path), "--csv", str(out)]) == 1
    assert "out.csv" in capsys.readouterr().err


def test_python_dash_m_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "knn_digits", "evaluate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no train-images-idx3-ubyte" in result.stderr


def test_download_from_a_local_mirror(tmp_path: Path, serve, capsys) -> None:
    import shutil

    from knn_digits.datasets import DATASETS, PACKAGED_DATA_DIR

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for spec in DATASETS["mnist"].files:
        shutil.copy(PACKAGED_DATA_DIR / f"{spec.name}.gz", mirror)
    dest = tmp_path / "dest"
    assert main(["download", "--dest", str(dest), "--mirror", serve(mirror)]) == 0
    assert capsys.readouterr().out.count(": verified") == 4
    assert main(["evaluate", "--data-dir", str(dest), "--limit", "20"]) == 0
    assert (
        main(["download", "--dest", str(tmp_path / "d2"), "--mirror", "http://127.0.0.1:9/"]) == 1
    )
    assert "could not download train-images-idx3-ubyte" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "public", "notice"),
    [
        ([], False, False),
        (["--host", "::1"], False, False),
        (["--public"], True, False),
        (["--host", "0.0.0.0"], True, True),
        (["--host", "0.0.0.0", "--public"], True, False),
    ],
)
def test_app_serves_strangers_in_public_mode_off_loopback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    public: bool,
    notice: bool,
) -> None:
    import knn_digits.app

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(knn_digits.app, "launch", lambda **kwargs: calls.append(kwargs))
    assert main(["app", *options, "--samples-per-visitor", "7"]) == 0
    assert calls[0]["public"] is public
    limits = calls[0]["limits"]
    assert isinstance(limits, Limits) and limits.samples_per_visitor == 7
    err = capsys.readouterr().err
    assert ("public mode" in err) is notice and len(err.splitlines()) == int(notice)


def test_app_refuses_a_limit_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--public", "--teach-per-minute", "0"]) == 1
    assert "teach_per_minute must be at least 1, got 0" in capsys.readouterr().err
