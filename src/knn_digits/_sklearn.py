"""scikit-learn's estimator protocol, kept without importing scikit-learn.

scikit-learn is an optional extra (``pip install "knn-digits[sklearn]"``): the neighbour
search, distances and votes are ours, and ``import knn_digits`` must not pay the two seconds
scikit-learn takes to import. So the protocol its tools rely on — ``get_params``/``set_params``
for ``clone`` and ``GridSearchCV``, ``__sklearn_tags__``, the column names of a DataFrame — is
written here, and scikit-learn itself is only touched when it is already in use:

* ``__sklearn_tags__`` is only ever called by scikit-learn, so it may import it.
* Its exception and warning classes are used when ``sklearn.exceptions`` is already loaded.
  Code that catches ``NotFittedError`` or filters ``DataConversionWarning`` has imported
  them, so when it is not loaded nobody can be asking for them, and plain ``ValueError``
  (which ``NotFittedError`` derives from) and ``UserWarning`` say the same.

Expected failures of ``check_estimator`` (where our documented behaviour differs on purpose)
are in :data:`EXPECTED_FAILED_CHECKS`, to pass as its ``expected_failed_checks``.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from typing import Any

import numpy as np

EXPECTED_FAILED_CHECKS = {
    "check_classifiers_train": (
        "ties between classes go to the nearest neighbour's class (documented in "
        "knn_digits.neighbors), so predict can differ from argmax(predict_proba), which "
        "takes the first tied column"
    ),
}


class ClassifierBase:
    """The parts of scikit-learn's ``BaseEstimator`` and ``ClassifierMixin`` our classifiers use.

    Parameters are the keyword arguments of ``__init__``, stored under their own names, as
    scikit-learn requires. Subclasses call :meth:`_remember_feature_names` in ``fit`` and
    :meth:`_check_feature_names` before predicting.
    """

    _takes_images = False  # True where X may be a stack of images (n, 28, 28)

    def _param_names(self) -> list[str]:
        """The constructor's parameter names (scikit-learn forbids ``*args``)."""
        signature = inspect.signature(type(self).__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind != parameter.VAR_KEYWORD
        ]

    def _settable_params(self) -> list[str]:
        """Names ``set_params`` accepts; those of ``get_params`` unless a subclass adds more."""
        return self._param_names()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (``deep`` is accepted for scikit-learn: no sub-estimators)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> ClassifierBase:
        """Set parameters by name, as ``GridSearchCV`` does; they apply at the next ``fit``."""
        valid = self._settable_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn's tools and checks may assume (only they call this)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(three_d_array=self._takes_images),
        )

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on (X, y), weighted by ``sample_weight`` if given."""
        correct = self.predict(X) == np.asarray(y).reshape(-1)  # type: ignore[attr-defined]
        return float(np.average(correct, weights=sample_weight))

    def _remember_feature_names(self, X: Any) -> None:
        """Keep a DataFrame's column names as ``feature_names_in_`` (forget older ones)."""
        names = _feature_names(X)
        if names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names

    def _check_feature_names(self, X: Any) -> None:
        """Refuse a DataFrame whose columns are not the ones ``fit`` saw, in the same order."""
        fitted = getattr(self, "feature_names_in_", None)
        given = _feature_names(X)
        if fitted is None or given is None or np.array_equal(fitted, given):
            return
        # scikit-learn's wording, which its own checks and users' searches know.
        message = "The feature names should match those that were passed during fit.\n"
        unseen = sorted(set(given) - set(fitted))
        missing = sorted(set(fitted) - set(given))
        if unseen:
            message += "Feature names unseen at fit time:\n" + _name_list(unseen)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + _name_list(missing)
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def _feature_names(X: Any) -> np.ndarray | None:
    """A DataFrame's column names as an object array, or None when they are not all strings."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(columns, dtype=object)
    return names if all(isinstance(name, str) for name in names) else None


def _name_list(names: list[str], most: int = 5) -> str:
    lines = [f"- {name}\n" for name in names[:most]]
    return "".join(lines) + ("- ...\n" if len(names) > most else "")


def not_fitted_error(estimator: object) -> ValueError:
    """The error for a method called before ``fit``: scikit-learn's class when it is in use."""
    message = f"this {type(estimator).__name__} is not fitted yet; call fit(X, y) first"
    loaded = sys.modules.get("sklearn.exceptions")
    return ValueError(message) if loaded is None else loaded.NotFittedError(message)


def warn_column_vector() -> None:
    """Warn that a column-vector y was flattened (scikit-learn's wording and class)."""
    loaded = sys.modules.get("sklearn.exceptions")
    category = UserWarning if loaded is None else loaded.DataConversionWarning
    warnings.warn(
        "A column-vector y was passed when a 1d array was expected; "
        "it was flattened (pass y.ravel() to silence this)",
        category,
        stacklevel=4,
    )
