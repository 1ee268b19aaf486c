"""The app's service under concurrent requests: readings side by side, changes alone.

The lock is tested by the order in which threads get it, and the service by readings that can
only finish if they run at the same time (a barrier): no durations are asserted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

from knn_digits import features
from knn_digits.app import DigitService
from knn_digits.app import service as service_module
from knn_digits.app.service import ReadWriteLock
from knn_digits.datasets import load_mnist
from knn_digits.models import DigitModel
from knn_digits.preprocess import render_drawing, sketch_to_ink

WAIT = 30  # seconds before a test that waits for another thread gives up (a deadlock)


def waiting(lock: ReadWriteLock, n: int) -> None:
    """Return once ``n`` threads wait on ``lock`` (CPython's Condition keeps its waiters)."""
    done = threading.Event()
    while len(lock._state._waiters) < n:  # type: ignore[attr-defined]
        done.wait(0.01)


def test_readers_share_the_lock() -> None:
    lock, both_in = ReadWriteLock(), threading.Barrier(2, timeout=WAIT)

    def read() -> None:
        with lock.reading():
            both_in.wait()  # broken (an error) unless both readers are inside at once

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: read(), range(2)))


def test_a_change_waits_for_readings_and_goes_before_later_ones() -> None:
    lock, order = ReadWriteLock(), []
    release = threading.Event()

    def first_reader() -> None:
        with lock.reading():
            order.append("first reading")
            release.wait(WAIT)

    def writer() -> None:
        with lock.writing():
            order.append("change")

    def later_reader() -> None:
        with lock.reading():
            order.append("later reading")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    while not order:
        release.wait(0.01)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    waiting(lock, 1)
    threads.append(threading.Thread(target=later_reader))
    threads[2].start()
    waiting(lock, 2)  # the later reader queues behind the waiting change
    assert order == ["first reading"]
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert order == ["first reading", "change", "later reading"]


@pytest.fixture(scope="module")
def inks() -> list[np.ndarray]:
    images, _ = load_mnist("test")
    return [
        sketch_to_ink({"background": None, "layers": [render_drawing(digit)], "composite": None})
        for digit in images[:2]
    ]


@pytest.fixture(scope="module")
def service() -> DigitService:
    images, labels = load_mnist("train")
    features.deskew(images[:4])  # a parallel kernel has run: numba has chosen its layer
    return DigitService(DigitModel("raw").fit(images[:2000], labels[:2000]))


@pytest.fixture
def explain_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """DigitModel.explain records numba's thread count for its caller at every call."""
    calls: list[int] = []
    real = DigitModel.explain

    def explain(self: DigitModel, images: np.ndarray) -> tuple[np.ndarray, ...]:
        calls.append(numba.get_num_threads())
        return real(self, images)

    monkeypatch.setattr(DigitModel, "explain", explain)
    yield calls


def test_two_readings_run_side_by_side_on_a_kernel_thread_each(
    service: DigitService,
    inks: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    explain_calls: list[int],
) -> None:
    if not service_module._kernels_thread_safe():
        pytest.skip(f"numba's {numba.threading_layer()} layer: readings take turns")
    before = numba.get_num_threads()
    alone = [service.read_ink(ink).text for ink in inks]
    both_in = threading.Barrier(2, timeout=WAIT)
    explain = DigitModel.explain

    def held(self: DigitModel, images: np.ndarray) -> tuple[np.ndarray, ...]:
        both_in.wait()  # broken (an error) unless both readings are in the model at once
        return explain(self, images)

    monkeypatch.setattr(DigitModel, "explain", held)
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda ink: service.read_ink(ink).text, inks))
    assert texts == alone
    assert explain_calls and set(explain_calls) == {1}  # one kernel thread per reading
    assert numba.get_num_threads() == before  # and the reader's own count is back


def test_readings_take_turns_where_kernels_are_not_thread_safe(
    service: DigitService,
    inks: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    explain_calls: list[int],
) -> None:
    monkeypatch.setattr(service_module.numba, "threading_layer", lambda: "workqueue")
    inside, overlaps = [0], []
    explain = DigitModel.explain
    second = threading.Event()

    def watched(self: DigitModel, images: np.ndarray) -> tuple[np.ndarray, ...]:
        inside[0] += 1
        overlaps.append(inside[0] > 1)
        if inside[0] > 1:
            second.set()
        else:
            second.wait(2)  # time for a second reading to come in, if the lock let it
        try:
            return explain(self, images)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(DigitModel, "explain", watched)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(service.read_ink, inks))
    assert len(overlaps) >= 2 and not any(overlaps)
