"""More writers on request: labelled digits from other collections, added to MNIST's references.

A k-NN reads a style best when it has seen it: a trial with 30 writers' pen digits added lifted
real handwriting by 2–3 points. ``--references PATH ...`` (app, evaluate, predict) takes

- IDX image files (EMNIST digits, QMNIST, exported samples), each beside its labels file of the
  same name with ``images``/``idx3`` replaced by ``labels``/``idx1``;
- UNIPEN files (pendigits, UNIPEN; gz or plain), whose pen strokes are drawn and read exactly as
  the app reads a drawing (:func:`~knn_digits.preprocess.strokes_to_mnist`), once with each
  brush of :data:`PEN_BRUSH_RADII`.

The files' checksum is part of the model's cache key, so the drawing of pen files is paid once.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .datasets import read_idx, read_pen_digits
from .errors import DataError
from .models import to_uint8
from .preprocess import strokes_to_mnist

__all__ = ["load_references", "references_checksum"]

_IDX_IMAGES_MAGIC = b"\x00\x00\x08\x03"  # unsigned bytes, three dimensions

#: Each pen digit joins the references drawn with a thin, a medium and a thick brush (radii in
#: px on the app's 400 px canvas): a drawing is read from its ink, and a thick brush fills loops
#: and rounds corners that a medium one keeps. One tune half as references for the other (1,000
#: drawings per brush, docs/real_handwriting.md): pen misreads 59 → 48 and 41 → 37.
PEN_BRUSH_RADII = (4.0, 10.0, 18.0)
#: Part of the cache key, so a model cached before pen files were drawn this way is refitted
#: (version 1 drew them with one medium brush).
PEN_DRAWING_VERSION = 2


def _head(path: Path) -> bytes:
    with open(path, "rb") as file:
        start = file.read(4)
    if start[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as file:
                return file.read(4)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    return start


def _labels_beside(images: Path) -> Path:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    labels = images.with_name(name)
    if name == images.name or not labels.is_file():
        raise DataError(
            f"{images}: IDX images need their labels beside them, named like the images file "
            f"with 'images'/'idx3' replaced by 'labels'/'idx1' (looked for {labels.name})"
        )
    return labels


def _read_idx_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(path)
    labels_path = _labels_beside(path)
    labels = read_idx(labels_path)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{path}: expected 28×28 images, got {images.shape[1:]}")
    if labels.shape != images.shape[:1]:
        raise DataError(
            f"{labels_path}: {labels.shape[0] if labels.ndim else 0} labels for "
            f"{images.shape[0]} images in {path.name}"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be digits 0–9, found {labels.max()}")
    return images.astype(np.uint8), labels.astype(np.int64)


def _read_pen_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    digits = read_pen_digits(path)
    if not digits:
        raise DataError(f"{path}: no labelled digits")
    images = np.stack(
        [
            to_uint8(strokes_to_mnist(digit.strokes, brush_radius=radius))
            for radius in PEN_BRUSH_RADII
            for digit in digits
        ]
    )
    labels = np.array([digit.label for digit in digits], np.int64)
    return images, np.tile(labels, len(PEN_BRUSH_RADII))


def load_references(
    paths: Sequence[str | os.PathLike[str]],
) -> tuple[np.ndarray, np.ndarray]:
    """Digits (n, 28, 28) uint8 and labels (n,) from IDX image files and UNIPEN files.

    Raises:
        DataError: a file is missing, damaged, or an IDX file has no labels beside it.
    """
    images, labels = [np.zeros((0, 28, 28), np.uint8)], [np.zeros(0, np.int64)]
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        read = _read_idx_pair if _head(path) == _IDX_IMAGES_MAGIC else _read_pen_file
        more_images, more_labels = read(path)
        images.append(more_images)
        labels.append(more_labels)
    return np.concatenate(images), np.concatenate(labels)


def references_checksum(paths: Sequence[str | os.PathLike[str]]) -> str:
    """A short hash of the files' bytes (and an IDX file's labels): the cache key's part."""
    digest = hashlib.sha256(f"pen drawing {PEN_DRAWING_VERSION}".encode())
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        files = [path]
        if _head(path) == _IDX_IMAGES_MAGIC:
            files.append(_labels_beside(path))
        for file in files:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:12]
