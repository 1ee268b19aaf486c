"""The presets as a scikit-learn estimator on images: ``DigitClassifier``.

:class:`~knn_digits.models.DigitModel` is the fitted pipeline the app and the CLI use; this
wraps it in scikit-learn's estimator protocol, so a preset can be cross-validated, put in a
``Pipeline`` or tuned with ``GridSearchCV`` — over any field of the preset, not only k:

>>> from sklearn.model_selection import GridSearchCV          # doctest: +SKIP
>>> search = GridSearchCV(DigitClassifier("fast"), {"n_neighbors": [1, 3, 4]}, cv=3)
>>> search.fit(images, labels).best_params_                    # doctest: +SKIP
{'n_neighbors': 4}

Nothing is cached on disk here (``load_model`` does that for the presets as they are).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._sklearn import ClassifierBase, not_fitted_error
from .models import DEFAULT_PRESET, DigitModel, Preset, as_images, get_preset

__all__ = ["DigitClassifier"]

# What an estimator parameter may override: every field of Preset but its name and description.
OVERRIDABLE = tuple(
    field.name for field in dataclasses.fields(Preset) if field.name not in ("name", "description")
)


class DigitClassifier(ClassifierBase):
    """A preset fitted to digit images, as a scikit-learn classifier.

    Parameters
    ----------
    preset : "raw", "fast" or "accurate" (default), or a :class:`Preset`.
    **overrides : fields of the preset to change, e.g. ``n_neighbors=1`` or ``pca=40``; each
        becomes a parameter that ``get_params``, ``set_params`` and ``GridSearchCV`` see.

    X is digits of shape (n, 28, 28) or flat (n, 784), uint8 0–255 or float in [0, 1]; y holds
    the digits 0–9. ``predict_proba`` has one column per digit (``classes_`` is 0–9). After
    ``fit``, ``model_`` is the fitted :class:`DigitModel` (neighbours, explanations).

    >>> DigitClassifier("fast", n_neighbors=1)
    DigitClassifier(preset='fast', n_neighbors=1)
    """

    _takes_images = True

    def __init__(self, preset: str | Preset = DEFAULT_PRESET, **overrides: Any) -> None:
        self.preset = preset
        self.set_params(**overrides)  # checks only the names: values are checked by fit

    def _param_names(self) -> list[str]:
        return ["preset", *(name for name in OVERRIDABLE if name in vars(self))]

    def _settable_params(self) -> list[str]:
        return ["preset", *OVERRIDABLE]

    def fit(self, X: Any, y: Any) -> DigitClassifier:
        """Fit the preset, with its overrides, on digit images; returns self."""
        overrides = {name: getattr(self, name) for name in self._param_names()[1:]}
        spec = dataclasses.replace(get_preset(self.preset), **overrides)
        images = _as_digit_images(X)
        labels = np.asarray(y)
        if labels.shape != (len(images),) or not np.isin(labels, np.arange(10)).all():
            raise ValueError(
                f"y must hold one digit 0–9 per image ({len(images)} of them), "
                f"got shape {labels.shape}"
            )
        self._remember_feature_names(X)
        self.model_ = DigitModel(spec).fit(images, labels)
        self.classes_ = np.arange(10)
        self.n_features_in_ = 784
        return self

    def _fitted_model(self, X: Any) -> tuple[DigitModel, np.ndarray]:
        if not hasattr(self, "model_"):
            raise not_fitted_error(self)
        self._check_feature_names(X)
        return self.model_, _as_digit_images(X)

    def predict(self, X: Any) -> np.ndarray:
        """The digit in each image, int64 of shape (n,)."""
        model, images = self._fitted_model(X)
        return model.predict(images)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Vote shares of shape (n, 10), one column per digit."""
        model, images = self._fitted_model(X)
        return model.predict_proba(images)


def _as_digit_images(X: Any) -> np.ndarray:
    """(n, 28, 28) or (n, 784), uint8 or float in [0, 1] -> float32 (n, 28, 28) in [0, 1]."""
    array = np.asarray(X)
    if array.ndim == 2 and array.shape[1] == 784:
        array = array.reshape(-1, 28, 28)
    if array.ndim != 3:
        raise ValueError(
            f"expected digit images of shape (n, 28, 28) or (n, 784), got shape {array.shape}"
        )
    images = as_images(array)
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinity")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"float images must lie in [0, 1], got values in [{images.min():g}, "
            f"{images.max():g}]; divide 0–255 pixels by 255 (or pass them as uint8)"
        )
    return images
