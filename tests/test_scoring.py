"""The distance scale segmentation's scores are measured in, and the scorer's memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_digits.models import DigitModel
from knn_digits.presets import Preset
from knn_digits.scoring import PROBES, DigitScorer, distance_scale

if TYPE_CHECKING:
    from conftest import Spy


@pytest.fixture(scope="module")
def model(mnist_train: tuple[np.ndarray, np.ndarray]) -> DigitModel:
    images, labels = mnist_train
    return DigitModel("raw").fit(images[:2000], labels[:2000])


def test_the_scale_is_the_median_distance_to_the_nearest_other_reference(
    model: DigitModel,
) -> None:
    pixels = model.train_images_.reshape(len(model.train_images_), -1).astype(np.float64) / 255
    probes = pixels[:: len(pixels) // PROBES][:PROBES]  # (PROBES, 784)
    squared = (probes**2).sum(1)[:, None] - 2 * probes @ pixels.T + (pixels**2).sum(1)[None]
    nearest_other = np.sqrt(np.sort(np.clip(squared, 0, None), axis=1)[:, 1])  # 0 is itself
    assert distance_scale(model) == pytest.approx(np.median(nearest_other), rel=1e-4)


def test_a_few_taught_samples_leave_the_scale_as_it_was(
    mnist_train: tuple[np.ndarray, np.ndarray],
) -> None:
    # The probes are the same digits after samples are added at the end (the app adds the
    # taught ones to the model), and faint specks are no probe's nearest neighbour.
    images, labels = mnist_train
    model = DigitModel("raw").fit(images[:2000], labels[:2000])
    before = distance_scale(model)
    specks = np.zeros((5, 28, 28), np.uint8)
    specks[:, 0, 0] = 1
    model.add(specks, np.arange(5))
    assert distance_scale(model) == before


def test_the_scorer_reads_each_digit_once(model: DigitModel, spy: Spy) -> None:
    # Segmentation scores candidates, then the app reads the digits chosen: no digit twice.
    reads = spy(model, "explain")
    scorer = DigitScorer(model, distance_scale(model))
    digits = [image.astype(np.float32) / 255 for image in model.train_images_[:3]]
    reads.clear()
    first = scorer(digits)
    np.testing.assert_array_equal(scorer(digits[::-1]), first[::-1])
    assert scorer.explain(digits[1:])[0].shape == (2, 10)
    assert [len(batch) for (batch,) in reads] == [3]


def test_the_scorer_reads_with_the_presets_drawing_vote(
    mnist_train: tuple[np.ndarray, np.ndarray],
) -> None:
    # Segmentation's candidates and the app's digits come from the drawing pipeline: voted on
    # by the preset's drawing_neighbors (3 here: two 5s outvote the nearest 9), not MNIST's k.
    images, _ = mnist_train
    seen = images[0].astype(np.float32) / 255
    references = [np.clip(seen + shift, 0, 1) for shift in (0.02, 0.05, 0.06)] + [images[1]]
    preset = Preset("toy", "k = 1, drawings k = 3", n_neighbors=1, drawing_neighbors=3)
    model = DigitModel(preset).fit(np.stack(references), [9, 5, 5, 1])
    proba, distances, _ = DigitScorer(model, 1.0).explain([seen])
    assert model.predict(seen[np.newaxis])[0] == 9
    assert proba[0].argmax() == 5 and distances.shape == (1, 3)
