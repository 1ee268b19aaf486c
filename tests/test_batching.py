"""Concurrent readings sharing model calls: each gets exactly its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from knn_digits.app.batching import BatchedModel, Batcher
from knn_digits.datasets import load_mnist
from knn_digits.models import DigitModel, as_images


class CountingModel(DigitModel):
    """A raw-preset model that records the size of every batch it explains."""

    def __init__(self) -> None:
        super().__init__("raw")
        self.batches: list[int] = []

    def explain(self, images: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.batches.append(len(images))
        return super().explain(images)


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_mnist("train")
    return images[:2000], labels[:2000]


def fitted(mnist: tuple[np.ndarray, np.ndarray]) -> CountingModel:
    model = CountingModel().fit(*mnist)
    model.batches.clear()
    return model


def queued_while_locked(
    batcher: Batcher, lock: threading.Lock, calls: list[tuple[DigitModel, np.ndarray]]
) -> list[Any]:
    """Start every call while ``lock`` is held, release it once all have queued; the answers
    (or exceptions) in order."""

    def call(model: DigitModel, digits: np.ndarray) -> Any:
        try:
            return batcher.explain(model, digits)
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        with lock:
            futures = [pool.submit(call, model, digits) for model, digits in calls]
            deadline = time.monotonic() + 30
            while len(batcher._queue) < len(calls):  # all waiting for the lock
                assert time.monotonic() < deadline, "the calls never queued"
                time.sleep(0.01)
        return [future.result() for future in futures]


def test_waiting_readings_are_served_by_one_call_each_with_its_own_rows(
    mnist: tuple[np.ndarray, np.ndarray],
) -> None:
    model = fitted(mnist)
    test = as_images(load_mnist("test")[0][:12])
    lock = threading.Lock()
    batcher = Batcher(lock)
    sizes = [1, 3, 2, 1, 4, 1]  # six readings of different lengths
    starts = np.cumsum([0, *sizes])
    calls = [(model, test[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    answers = queued_while_locked(batcher, lock, calls)  # type: ignore[arg-type]
    assert model.batches == [sum(sizes)]
    for (_, digits), answer in zip(calls, answers, strict=True):
        alone = DigitModel.explain(model, digits)
        for got, expected in zip(answer, alone, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_each_model_gets_its_own_call_and_a_failure_stays_with_its_readings(
    mnist: tuple[np.ndarray, np.ndarray],
) -> None:
    first, second = fitted(mnist), fitted(mnist)
    second.add(mnist[0][:1], np.array([9]))  # a different model: a sample taught
    test = as_images(load_mnist("test")[0][:4])
    lock = threading.Lock()
    batcher = Batcher(lock)
    bad = np.zeros((1, 5, 5), np.float32)  # not 28×28: its model's batch fails
    calls = [(first, test[:2]), (second, test[2:]), (first, test[2:]), (second, bad)]
    answers = queued_while_locked(batcher, lock, calls)  # type: ignore[arg-type]
    assert first.batches == [4] and second.batches == []
    np.testing.assert_array_equal(answers[2][2], DigitModel.explain(first, test[2:])[2])
    assert isinstance(answers[1], ValueError) and isinstance(answers[3], ValueError)
    assert isinstance(answers[0], tuple)


def test_a_lone_reading_is_served_at_once_and_the_stand_in_reads_like_the_model(
    mnist: tuple[np.ndarray, np.ndarray],
) -> None:
    model = fitted(mnist)
    batched = BatchedModel(model, Batcher(threading.Lock()))
    test = load_mnist("test")[0][:3]  # uint8: the stand-in converts as the model does
    for got, expected in zip(batched.explain(test), DigitModel.explain(model, test), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert model.batches == [3]
    assert batched.train_labels_ is model.train_labels_
