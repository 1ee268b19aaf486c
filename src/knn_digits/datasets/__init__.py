"""Digits on disk: MNIST's IDX format and files, and pen trajectories in the UNIPEN format.

- :mod:`.idx`: read and write IDX arrays (raw or gzip), checked as they are read.
- :mod:`.mnist`: the MNIST file table (names, sizes, SHA-256), ``load_mnist`` and a verified
  download.
- :mod:`.unipen`: ``read_unipen``, digits written with a pen as lists of strokes.

>>> images, labels = load_mnist("test")
>>> images.shape, images.dtype, labels[:5].tolist()
((10000, 28, 28), dtype('uint8'), [7, 2, 1, 0, 4])
"""

from knn_digits.datasets.idx import read_idx, write_idx
from knn_digits.datasets.mnist import (
    DATASETS,
    PACKAGED_DATA_DIR,
    IdxFile,
    data_checksum,
    download,
    find_file,
    load_mnist,
)
from knn_digits.datasets.unipen import PenDigit, read_pen_digits, read_unipen

__all__ = [
    "DATASETS",
    "IdxFile",
    "PACKAGED_DATA_DIR",
    "PenDigit",
    "data_checksum",
    "download",
    "find_file",
    "load_mnist",
    "read_idx",
    "read_pen_digits",
    "read_unipen",
    "write_idx",
]
