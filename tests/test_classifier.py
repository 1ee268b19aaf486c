"""DigitClassifier: the presets inside scikit-learn (cross-validation, Pipeline, GridSearchCV)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from knn_digits import DigitClassifier, DigitModel


@pytest.fixture(scope="module")
def digits(mnist_train) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """600 training digits and 100 queries, uint8 (n, 28, 28)."""
    images, labels = mnist_train
    return images[:600], labels[:600], images[600:700]


def test_cross_val_score_with_a_preset(digits) -> None:
    images, labels, _ = digits
    scores = cross_val_score(DigitClassifier(preset="fast"), images, labels, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_agrees_with_digit_model_for_every_input_layout(digits) -> None:
    images, labels, queries = digits
    expected = DigitModel("fast").fit(images, labels).predict(queries)
    model = DigitClassifier("fast").fit(images.reshape(600, 784), labels)
    for layout in (queries, queries.reshape(100, 784), queries / np.float32(255)):
        np.testing.assert_array_equal(model.predict(layout), expected)
    proba = model.predict_proba(queries)
    assert proba.shape == (100, 10) and model.classes_.tolist() == list(range(10))


def _to_unit_range(pixels: np.ndarray) -> np.ndarray:
    return pixels / 255.0


def test_in_a_pipeline_after_scaling_float_pixels(digits) -> None:
    """A learner's float 0–255 pixels (as fetch_openml gives them) scaled in the pipeline."""
    images, labels, queries = digits
    pipeline = make_pipeline(FunctionTransformer(_to_unit_range), DigitClassifier("raw"))
    pipeline.fit(images.reshape(600, -1).astype(np.float64), labels)
    direct = DigitClassifier("raw").fit(images, labels)
    np.testing.assert_array_equal(
        pipeline.predict(queries.reshape(100, -1).astype(np.float64)), direct.predict(queries)
    )


def test_overrides_are_parameters_grid_search_can_tune(digits) -> None:
    images, labels, _ = digits
    model = DigitClassifier("fast", n_neighbors=1)
    assert model.get_params() == {"preset": "fast", "n_neighbors": 1}
    assert repr(clone(model).set_params(pca=20)) == (
        "DigitClassifier(preset='fast', n_neighbors=1, pca=20)"
    )
    search = GridSearchCV(DigitClassifier("raw"), {"n_neighbors": [1, 4]}, cv=2)
    search.fit(images, labels)
    assert search.best_params_["n_neighbors"] in (1, 4)
    assert search.best_estimator_.model_.preset.n_neighbors == search.best_params_["n_neighbors"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DigitClassifier(k=3), "invalid parameter 'k'"),
        (lambda: DigitClassifier("slow").fit(np.zeros((2, 28, 28)), [0, 1]), "unknown preset"),
        (lambda: DigitClassifier().fit(np.full((2, 784), 255.0), [0, 1]), "divide 0–255"),
        (lambda: DigitClassifier().fit(np.zeros((2, 28, 28)), [0, 10]), "digit 0–9"),
        (lambda: DigitClassifier().fit(np.zeros((2, 5, 5)), [0, 1]), r"\(n, 28, 28\)"),
        (lambda: DigitClassifier().predict(np.zeros((2, 28, 28))), "not fitted"),
    ],
)
def test_bad_input_explains_the_fix(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
