"""Running a search on every core: one worker thread per core, BLAS single-threaded inside.

The workers release the GIL in BLAS and in the compiled (numba) kernels, so threads suffice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _blas_threads() -> ThreadpoolController:
    """The BLAS libraries in this process (inspecting them is slow, so once)."""
    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager[object]:
    """A context in which BLAS runs on the calling thread only.

    For the search's workers, and for small products just before a search: a multi-threaded
    BLAS call leaves its threads spinning for a while after it returns, and on two cores they
    take a core from the search (a PCA projection of 1,000 digits made the next search 50 %
    slower). The limit is process-wide: when threads overlap in it (the app serving two
    requests), BLAS may stay on one thread afterwards, which costs speed, never correctness.
    """
    return _blas_threads().limit(limits=1, user_api="blas")


def cpu_count() -> int:
    """Cores this process may run on (not the machine's, under a CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_blocks(scan: Callable[[int], None], starts: Iterable[int], workers: int) -> None:
    """Call ``scan(start)`` for every start, on ``workers`` threads with one BLAS thread each."""
    if workers == 1:
        for start in starts:
            scan(start)
        return
    pool = ThreadPoolExecutor(workers)
    try:
        with single_threaded_blas():
            list(pool.map(scan, starts))
    finally:  # on Ctrl-C or an error, drop the blocks not yet started
        pool.shutdown(cancel_futures=True)
