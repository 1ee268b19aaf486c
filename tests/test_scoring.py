"""The distance scale segmentation's scores are measured in, and the scorer's memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_digits.models import DigitModel
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
