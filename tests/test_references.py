"""More writers on request: IDX and UNIPEN reference files, through load_model and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knn_digits import paths, references
from knn_digits.cli import main
from knn_digits.datasets import read_pen_digits, write_idx
from knn_digits.errors import DataError
from knn_digits.models import load_model, to_uint8
from knn_digits.preprocess import image_to_mnist, load_image, strokes_to_mnist
from knn_digits.references import PEN_BRUSH_RADII, load_references, references_checksum

PEN_FILE = """.SEGMENT DIGIT    0 ? "1"
.COMMENT 1 12  224
.PEN_DOWN
 100  400
 100  100
.PEN_UP

.SEGMENT DIGIT    1 ? "7"
.COMMENT 7 12  225
.PEN_DOWN
 20  400
 200  400
 80  100
.PEN_UP
"""


def write_pair(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    images_path = folder / "extra-images-idx3-ubyte.gz"
    write_idx(images_path, images.astype(np.uint8))
    write_idx(folder / "extra-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return images_path


def test_idx_references_are_read_with_their_labels(tmp_path: Path, mnist_test) -> None:
    images, labels = mnist_test
    path = write_pair(tmp_path, images[:5], labels[:5])
    got_images, got_labels = load_references([path])
    np.testing.assert_array_equal(got_images, images[:5])
    np.testing.assert_array_equal(got_labels, labels[:5])


def test_pen_references_are_drawn_as_the_app_reads_drawings(tmp_path: Path) -> None:
    """Each pen digit once per brush of PEN_BRUSH_RADII, thin to thick, as a drawing is read."""
    path = tmp_path / "pen.dat"
    path.write_text(PEN_FILE)
    images, labels = load_references([path])
    assert len(PEN_BRUSH_RADII) == 3
    assert labels.tolist() == [1, 7] * 3
    digits = read_pen_digits(path)
    drawn = [(radius, digit) for radius in PEN_BRUSH_RADII for digit in digits]
    for image, (radius, digit) in zip(images, drawn, strict=True):
        np.testing.assert_array_equal(
            image, to_uint8(strokes_to_mnist(digit.strokes, brush_radius=radius))
        )
    # A thick brush's 7 is not its thin brush's 7 (before the erosion to MNIST's width).
    assert not np.array_equal(images[1], images[5])


def test_damaged_references_name_the_file(tmp_path: Path, mnist_test) -> None:
    images, _ = mnist_test
    lonely = tmp_path / "lonely-images-idx3-ubyte"
    write_idx(lonely, images[:2])
    with pytest.raises(DataError, match="lonely-images-idx3-ubyte.*labels"):
        load_references([lonely])
    with pytest.raises(DataError, match="missing.dat: no such file"):
        load_references([tmp_path / "missing.dat"])
    broken = tmp_path / "broken.dat"
    broken.write_text('.SEGMENT DIGIT 0 ? "X"\n.PEN_DOWN\n 1 2\n.PEN_UP\n')
    with pytest.raises(DataError, match="broken.dat"):
        load_references([broken])


def test_references_join_the_model_and_key_its_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KNN_DIGITS_HOME", str(tmp_path / "home"))  # a cache of its own
    pen = tmp_path / "pen.dat"
    pen.write_text(PEN_FILE)
    model = load_model("raw", references=[pen])
    assert len(model.train_labels_) == 60_006  # two digits, three brushes
    assert model.train_labels_[-2:].tolist() == [1, 7]
    cached = set(paths.cache_dir().glob("raw-*-refs-*.npz"))
    pen.write_text(PEN_FILE.replace('"7"', '"2"').replace("7 12", "2 12"))
    assert load_model("raw", references=[pen]).train_labels_[-1] == 2  # not the stale cache
    assert len(set(paths.cache_dir().glob("raw-*-refs-*.npz")) - cached) == 1


def test_cli_references_round_trip(tmp_path: Path, mnist_test, capsys) -> None:
    """A scan the model reads as a 7 is read as 3 once references teach it so."""
    images, labels = mnist_test
    scan = tmp_path / "scan.png"
    Image.fromarray(255 - images[0]).resize((84, 84)).save(scan)
    assert labels[0] == 7
    as_read = to_uint8(image_to_mnist(load_image(scan)))
    references = write_pair(tmp_path, np.stack([as_read] * 3), np.array([3, 3, 3]))
    assert main(["predict", str(scan), "--preset", "raw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["digit"] == 7
    command = ["predict", str(scan), "--preset", "raw", "--json", "--references", str(references)]
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out)[0]["digit"] == 3
    assert main([*command[:-1], str(tmp_path / "nope-images-idx3-ubyte")]) == 1
    assert "nope-images-idx3-ubyte: no such file" in capsys.readouterr().err


def test_a_new_way_of_drawing_pen_files_keys_a_new_cache(tmp_path: Path, monkeypatch) -> None:
    """Pen files drawn differently (another PEN_DRAWING_VERSION) never reuse a cached model."""
    pen = tmp_path / "pen.dat"
    pen.write_text(PEN_FILE)
    before = references_checksum([pen])
    monkeypatch.setattr(references, "PEN_DRAWING_VERSION", references.PEN_DRAWING_VERSION + 1)
    assert references_checksum([pen]) != before
