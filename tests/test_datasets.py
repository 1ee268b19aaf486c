"""The IDX reader against the published checksums, its error messages, and the download."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from knn_digits.datasets import (
    DATASETS,
    PACKAGED_DATA_DIR,
    data_checksum,
    download,
    load_mnist,
    read_idx,
    write_idx,
)
from knn_digits.errors import DataError, DownloadError

MNIST = DATASETS["mnist"]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("spec", MNIST.files, ids=lambda spec: spec.name)
def test_packaged_files_match_published_checksums(spec) -> None:
    content = gzip.decompress((PACKAGED_DATA_DIR / f"{spec.name}.gz").read_bytes())
    assert hashlib.sha256(content).hexdigest() == spec.sha256


def test_load_mnist_shapes_and_class_counts(mnist_train, mnist_test) -> None:
    for (images, labels), n, counts in (
        (mnist_train, 60_000, TRAIN_COUNTS),
        (mnist_test, 10_000, TEST_COUNTS),
    ):
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.uint8
        assert np.bincount(labels).tolist() == counts
    assert mnist_test[1][:5].tolist() == [7, 2, 1, 0, 4]


def test_round_trip_every_dtype(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        array = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            write_idx(tmp_path / name, array)
            back = read_idx(tmp_path / name)
            assert back.dtype == array.dtype and np.array_equal(back, array)


def test_write_idx_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no IDX type code"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.complex64))


def _copy_mnist(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for spec in MNIST.files:
        shutil.copy(PACKAGED_DATA_DIR / f"{spec.name}.gz", folder / f"{spec.name}.gz")
    return folder


def test_kaggle_names_uncompressed(tmp_path: Path, mnist_test) -> None:
    for spec in MNIST.files:
        (tmp_path / spec.kaggle_name).write_bytes(
            gzip.decompress((PACKAGED_DATA_DIR / f"{spec.name}.gz").read_bytes())
        )
    images, labels = load_mnist("test", tmp_path)
    assert np.array_equal(images, mnist_test[0]) and np.array_equal(labels, mnist_test[1])
    assert data_checksum(tmp_path) == data_checksum()


def _write_labels(folder: Path, labels: np.ndarray) -> None:
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(
                gzip.compress(b"\0\0\x08\x03" + b"\0\0\0\x10")
            ),
            "truncated header",
        ),
        (
            lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"JUNKJUNKJUNK")),
            "not an IDX file",
        ),
        (
            lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(
                gzip.compress(gzip.decompress((d / "t10k-images-idx3-ubyte.gz").read_bytes())[:-10])
            ),
            "truncated",
        ),
        (
            lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(
                (d / "t10k-images-idx3-ubyte.gz").read_bytes()[:1000]
            ),
            "corrupt or truncated gzip",
        ),
        (lambda d: _write_labels(d, np.zeros(9_999, dtype=np.uint8)), "10000 images but"),
        (lambda d: _write_labels(d, np.full(10_000, 11, dtype=np.uint8)), "outside 0–9"),
        (lambda d: (d / "t10k-labels-idx1-ubyte.gz").unlink(), "no t10k-labels-idx1-ubyte"),
    ],
    ids=[
        "short-header",
        "bad-magic",
        "truncated-data",
        "truncated-gzip",
        "count-mismatch",
        "bad-label",
        "missing-file",
    ],
)
def test_bad_files_are_named_in_the_error(tmp_path: Path, corrupt, message: str) -> None:
    folder = _copy_mnist(tmp_path / "data")
    corrupt(folder)
    with pytest.raises(DataError, match=message) as info:
        load_mnist("test", folder)
    assert str(folder) in str(info.value)


# --------------------------------------------------------------------------- download


def test_download_verifies_and_falls_back(tmp_path: Path, serve) -> None:
    good = serve(_copy_mnist(tmp_path / "good"))
    corrupted_dir = _copy_mnist(tmp_path / "corrupted")
    (corrupted_dir / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\0\0\x08\x01\0\0\0\x02\x01\x02")
    )
    corrupted = serve(corrupted_dir)
    truncated = serve(_copy_mnist(tmp_path / "truncated"), {"train-images-idx3-ubyte.gz"})
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    seen: list[str] = []

    def progress(name: str, total: int | None):
        seen.append(name)
        return lambda n: None

    paths = download(
        tmp_path / "dest", mirrors=[dead, corrupted, truncated, good], progress=progress, timeout=5
    )
    assert [p.name for p in paths] == [f"{spec.name}.gz" for spec in MNIST.files]
    images, labels = load_mnist("train", tmp_path / "dest")
    assert images.shape == (60_000, 28, 28) and np.bincount(labels).tolist() == TRAIN_COUNTS
    assert "train-images-idx3-ubyte.gz" in seen
    assert not list((tmp_path / "dest").glob(".*part"))  # no temporary file left behind


def test_download_fails_cleanly_when_no_mirror_verifies(tmp_path: Path, serve) -> None:
    bad_dir = _copy_mnist(tmp_path / "bad")
    (bad_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not mnist"))
    bad = serve(bad_dir)
    truncated = serve(_copy_mnist(tmp_path / "truncated"), {"t10k-labels-idx1-ubyte.gz"})
    with pytest.raises(DownloadError, match="t10k-labels-idx1-ubyte") as info:
        download(tmp_path / "dest", mirrors=[bad, truncated], timeout=5)
    assert "does not match" in str(info.value) and "connection closed" in str(info.value)
    assert not (tmp_path / "dest" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "dest").glob(".*part"))


def test_download_keeps_valid_existing_files(tmp_path: Path, serve) -> None:
    dest = _copy_mnist(tmp_path / "dest")
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    download(dest, mirrors=["http://127.0.0.1:9/"], timeout=5)  # would fail if it fetched
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before
