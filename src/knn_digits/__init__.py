"""knn-digits: a from-scratch k-nearest-neighbour classifier for handwritten digits.

>>> from knn_digits import KNNClassifier, load_mnist
>>> X, y = load_mnist("train")
>>> model = KNNClassifier(n_neighbors=3).fit(X.reshape(len(X), -1), y)
>>> test_X, test_y = load_mnist("test")
>>> model.score(test_X[:100].reshape(100, -1), test_y[:100])
0.99
"""

from . import _openmp  # noqa: F401  (first: before numba starts its OpenMP threads)
from .classifier import DigitClassifier
from .datasets import load_mnist, read_idx, write_idx
from .errors import DataError, DownloadError, EmptyImageError, ImageError, KnnDigitsError
from .models import DEFAULT_PRESET, PRESETS, DigitModel, Preset, load_model
from .neighbors import KNNClassifier, search_kneighbors

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "DataError",
    "DigitClassifier",
    "DigitModel",
    "DownloadError",
    "EmptyImageError",
    "ImageError",
    "KNNClassifier",
    "KnnDigitsError",
    "Preset",
    "load_mnist",
    "load_model",
    "read_idx",
    "search_kneighbors",
    "write_idx",
]
