"""Readings that arrive together share model calls: one batch for all the digits waiting.

The ``accurate`` preset's second stage costs about half as much per digit in a batch of eight
as alone (``benchmarks/app_latency.py`` measures the whole app), and a model call must run
alone anyway (it uses every core, and numba's fallback threading layer can't run two parallel
kernels at once). So a reading queues its digits and takes the model lock; whoever holds the
lock serves every reading queued by then in one call per model. A lone reading is served at
once: nothing waits for company.

No gradio here; the app's readings go through :class:`Batcher` (:mod:`.service`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knn_digits.models import DigitModel, as_images

__all__ = ["Batcher", "BatchedModel"]

Explained = tuple[np.ndarray, np.ndarray, np.ndarray]  # proba (n, 10), distances, indices (n, k)


@dataclass(eq=False)
class _Request:
    model: DigitModel
    digits: np.ndarray  # float32 (n, 28, 28) in [0, 1]
    answer: Explained | None = None
    error: BaseException | None = None
    served: threading.Event = field(default_factory=threading.Event)


class Batcher:
    """Runs concurrent ``model.explain`` calls together, one at a time under ``lock``.

    Args:
        lock: the lock every model call runs under (the service's; it also keeps the model
            from changing during a call).
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()  # held only to add or take requests

    def explain(self, model: DigitModel, digits: np.ndarray) -> Explained:
        """``model.explain(digits)``, in one batch with the digits of any concurrent readings.

        Args:
            model: the model to ask (readings of other models wait in the same queue and are
                served by their own call).
            digits: float32 (n, 28, 28) in [0, 1] (``models.as_images``), so that batches
                of different readings join as they are.
        """
        request = _Request(model, digits)
        with self._queue_lock:
            self._queue.append(request)
        with self._lock:
            if not request.served.is_set():  # nobody took it yet: serve everyone waiting
                with self._queue_lock:
                    waiting, self._queue = self._queue, []
                _serve(waiting)
        if request.error is not None:
            raise request.error
        assert request.answer is not None
        return request.answer


def _serve(requests: list[_Request]) -> None:
    """Answer ``requests``: one ``explain`` per model, its rows handed back in order."""
    by_model: dict[int, list[_Request]] = {}
    for request in requests:
        by_model.setdefault(id(request.model), []).append(request)
    for group in by_model.values():
        try:
            answers = group[0].model.explain(np.concatenate([r.digits for r in group]))
            bounds = np.cumsum([len(r.digits) for r in group])[:-1]
            for request, *rows in zip(group, *(np.split(a, bounds) for a in answers), strict=True):
                request.answer = tuple(rows)  # type: ignore[assignment]
        except Exception as exc:  # noqa: BLE001 - each reading raises it as its own
            for request in group:
                request.error = exc
        finally:
            for request in group:
                request.served.set()


class BatchedModel:
    """A model whose ``explain`` goes through a :class:`Batcher`; every other attribute is the
    model's own. It stands in for the model where a reader only calls ``explain`` and reads
    the training set (``DigitScorer``)."""

    def __init__(self, model: DigitModel, batcher: Batcher) -> None:
        self._model = model
        self._batcher = batcher

    def explain(self, images: Any) -> Explained:
        return self._batcher.explain(self._model, as_images(images))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)
