"""The CLI as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knn_digits.cli import main


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
