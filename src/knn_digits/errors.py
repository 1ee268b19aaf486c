"""The exceptions knn-digits raises on purpose.

Everything a user can cause derives from :class:`KnnDigitsError`, so the CLI and the app can
catch one class and show its message (never a traceback)::

    KnnDigitsError
    ├── DataError        a data file is missing, malformed or fails its checksum
    │   └── DownloadError    no mirror delivered a verified file
    ├── ImageError       an image can't be read or holds no digit
    │   └── EmptyImageError  a blank canvas / an image with no ink
    ├── ModelError       a saved model or cache is unusable
    └── LimitError       a shared app refuses more: teaching too fast, or too many samples

Bad *arguments* to the library (k < 1, wrong shapes, NaN, ...) raise ``ValueError`` /
``TypeError`` as scikit-learn does; ``DataError`` and ``ImageError`` are ``ValueError`` too, so
``except ValueError`` keeps working for callers who think in those terms.
"""

from __future__ import annotations


class KnnDigitsError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class DataError(KnnDigitsError, ValueError):
    """A data file is missing, truncated, malformed or fails its checksum."""


class DownloadError(DataError):
    """No mirror delivered a file whose checksum matched."""


class ImageError(KnnDigitsError, ValueError):
    """An image can't be decoded, or is too large to be a digit."""


class EmptyImageError(ImageError):
    """The image holds no ink: an empty canvas, a blank or all-black photo."""


class ModelError(KnnDigitsError, ValueError):
    """A saved model or cached preset can't be loaded."""


class LimitError(KnnDigitsError):
    """A public app's limit was reached: too many teachings a minute, or too many samples."""
