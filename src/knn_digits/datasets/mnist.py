"""The MNIST files: their table (names, sizes, SHA-256), ``load_mnist`` and a verified download.

The four original MNIST files ship inside the package (``knn_digits/data``), so everything works
offline. ``--data-dir`` may point elsewhere: at a folder of canonical names
(``train-images-idx3-ubyte[.gz]``) or at the Kaggle download (``train-images.idx3-ubyte``).
Downloads are checked by the SHA-256 of their *decompressed* bytes, which is the same whichever
gzip wrapper a mirror serves.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError, DownloadError
from .idx import _read_bytes, _write_atomically, read_idx

__all__ = [
    "DATASETS",
    "IdxFile",
    "PACKAGED_DATA_DIR",
    "data_checksum",
    "download",
    "find_file",
    "load_mnist",
]

PACKAGED_DATA_DIR = Path(__file__).parent.parent / "data"


@dataclass(frozen=True)
class IdxFile:
    """One file of a data set: its canonical name, shape and content checksum."""

    name: str  # canonical name without .gz, e.g. "train-images-idx3-ubyte"
    count: int  # number of images or labels
    sha256: str  # SHA-256 of the decompressed bytes

    @property
    def kaggle_name(self) -> str:
        """The name the Kaggle download uses: ``train-images.idx3-ubyte``."""
        stem, _, kind = self.name.rpartition("-idx")
        return f"{stem}.idx{kind}"


@dataclass(frozen=True)
class Dataset:
    """A data set in MNIST's format: four files and the mirrors that serve them gzipped."""

    name: str
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    mirrors: tuple[str, ...]

    @property
    def files(self) -> tuple[IdxFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        train_images=IdxFile(
            "train-images-idx3-ubyte",
            60_000,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        train_labels=IdxFile(
            "train-labels-idx1-ubyte",
            60_000,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        test_images=IdxFile(
            "t10k-images-idx3-ubyte",
            10_000,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        test_labels=IdxFile(
            "t10k-labels-idx1-ubyte",
            10_000,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
}


# --------------------------------------------------------------------------- loading


def find_file(data_dir: str | os.PathLike[str], spec: IdxFile) -> Path:
    """The path of ``spec`` in ``data_dir`` under any of the names it is distributed as."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    names = [spec.name, spec.kaggle_name]
    for name in names:
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    raise DataError(
        f"{folder}: no {spec.name}[.gz] (or {spec.kaggle_name}) in this directory; "
        "run `knn-digits download --dest DIR` to fetch the files"
    )


def load_mnist(
    split: Literal["train", "test"] = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    dataset: str = "mnist",
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split: images uint8 of shape (n, 28, 28) and labels uint8 of shape (n,).

    ``data_dir=None`` uses the copy of MNIST that ships with the package. Every file is
    validated: magic number, declared sizes, image/label counts that agree, labels in 0–9.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
    if data_dir is None and dataset != "mnist":
        raise ValueError(f"{dataset} is not packaged; download it and pass data_dir")
    spec = DATASETS[dataset]
    folder = PACKAGED_DATA_DIR if data_dir is None else Path(data_dir)
    image_spec, label_spec = (
        (spec.train_images, spec.train_labels)
        if split == "train"
        else (spec.test_images, spec.test_labels)
    )
    image_path, label_path = find_file(folder, image_spec), find_file(folder, label_spec)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{image_path}: expected uint8 images of shape (n, rows, cols), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{label_path}: expected uint8 labels of shape (n,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} holds {len(images)} images but {label_path} holds "
            f"{len(labels)} labels; the two files must come from the same split"
        )
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{label_path}: label {labels[bad]} at index {bad} is outside 0–9")
    return images, labels


def data_checksum(data_dir: str | os.PathLike[str] | None = None) -> str:
    """A short fingerprint of the four MNIST files' content, for cache keys and reports."""
    folder = PACKAGED_DATA_DIR if data_dir is None else Path(data_dir)
    digest = hashlib.sha256()
    for spec in DATASETS["mnist"].files:
        digest.update(hashlib.sha256(_read_bytes(find_file(folder, spec))).digest())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- download

ProgressFactory = Callable[[str, int | None], Callable[[int], None]]
"""Makes a progress callback for one file: (description, total bytes or None) -> advance(n)."""


def _fetch(url: str, timeout: float, progress: ProgressFactory | None) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        advance = progress(url.rsplit("/", 1)[-1], total) if progress else None
        chunks = []
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            if advance:
                advance(len(chunk))
        data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise DownloadError(f"{url}: connection closed after {len(data)} of {total} bytes")
    return data


def download(
    dest: str | os.PathLike[str],
    dataset: str = "mnist",
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    progress: ProgressFactory | None = None,
) -> list[Path]:
    """Fetch a data set's four files into ``dest``, verified, falling back between mirrors.

    Each file is stored gzipped under its canonical name only after the SHA-256 of its
    decompressed bytes matches the published value; it is written atomically, so an
    interrupted download leaves no partial file. Files already present and valid are kept.
    Returns the four paths.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
    spec = DATASETS[dataset]
    mirrors = tuple(mirrors) if mirrors is not None else spec.mirrors
    if not mirrors:
        raise ValueError("download: no mirrors given")
    dest = Path(dest)
    paths = []
    for file in spec.files:
        target = dest / f"{file.name}.gz"
        if target.is_file() and _sha256_of(target) == file.sha256:
            paths.append(target)
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{file.name}.gz"
            try:
                payload = _fetch(url, timeout, progress)
                content = gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload
            except (OSError, EOFError, zlib.error, urllib.error.URLError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            except DownloadError as exc:
                failures.append(str(exc))
                continue
            got = hashlib.sha256(content).hexdigest()
            if got != file.sha256:
                failures.append(f"{url}: SHA-256 {got[:12]}… does not match {file.sha256[:12]}…")
                continue
            # Keep the mirror's own gzip bytes: re-compressing 47 MB costs seconds.
            stored = payload if payload[:2] == b"\x1f\x8b" else gzip.compress(content, mtime=0)
            _write_atomically(target, [stored])
            paths.append(target)
            break
        else:
            raise DownloadError(f"could not download {file.name}: " + "; ".join(failures))
    return paths


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(_read_bytes(path)).hexdigest()
    except DataError:
        return None
