"""Where knn-digits keeps things on disk, decided in one place.

``$KNN_DIGITS_HOME`` (when set) holds everything: ``samples.sqlite3``, ``cache/`` and
``reports/``. Otherwise the platform's per-user folders are used (``platformdirs``): samples and
reports under the user data directory, fitted presets under the user cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_home", "report_dir"]

APP_NAME = "knn-digits"


def data_home() -> Path:
    """``$KNN_DIGITS_HOME``, else the per-user data directory."""
    home = os.environ.get("KNN_DIGITS_HOME")
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Fitted presets: ``$KNN_DIGITS_HOME/cache``, else the per-user cache directory."""
    if os.environ.get("KNN_DIGITS_HOME"):
        return data_home() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def report_dir(preset: str) -> Path:
    """Where ``knn-digits report`` writes by default, and where the app looks for a report."""
    return data_home() / "reports" / preset
