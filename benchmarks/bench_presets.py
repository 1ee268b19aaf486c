"""Speed of the presets against the bare raw-pixel product, in the same run.

The yardstick is the bare float32 product ``test @ train.T`` on raw pixels (the cost floor of
brute-force raw-pixel kNN), timed in the same run. Issue 11's targets: ``fast`` classifies the
10,000 MNIST test digits in at most 0.067 × the product (≥ 30,000 digits/s), ``accurate`` in
at most 3 × (≥ 700 digits/s), one drawing in at most 100 ms for every preset. Fitting (or
loading the cache) happens before the clock starts.

The last column divides CPU seconds (all threads) instead of wall seconds: a shared machine's
other jobs move it less, since it leaves out the time they held the cores.

Besides the presets, their options left off by default: ``fast`` with candidates from k-means
cells, ``accurate`` without its cascade; and ``fast`` with its first stage searched by brute
force instead of the screened kernel (the same predictions: what the kernel buys).

``--stages``: instead, where ``fast``'s time goes, stage by stage, on the validation split (fit
on training digits 0–49,999, 10,000 digits 50,000–59,999), as ratios to the same bare product;
beside the exact search, its product alone (the same score tiles on the same threads, nothing
selected), the floor of a brute-force first stage. ``--accurate-stages``: the same for
``accurate``, its stages timed as one ``predict`` calls them (the cascade asks the first stage
and IDM twice: every digit, then the doubtful ones), and beside them the first stage asked for
all 1000 candidates for every digit, as before the cascade asked twice.

Run: ``python benchmarks/bench_presets.py [--repeat 2] [--presets fast accurate] [--stages]
[--accurate-stages]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench_knn import bare_product
from knn_digits import load_mnist, load_model
from knn_digits.models import PRESETS, DigitModel, as_images
from knn_digits.neighbors import NeighborIndex
from knn_digits.neighbors.parallel import cpu_count, run_blocks

# The options a preset leaves off, timed beside it (docs/faster_presets.md).
VARIANTS: dict[str, Callable[[], DigitModel]] = {
    "fast, 32 of 512 cells": lambda: load_model(
        dataclasses.replace(PRESETS["fast"], cells=512, probes=32)
    ),
    "accurate, no cascade": lambda: load_model("accurate").without_cascade(),
    "fast, brute-force first stage": lambda: _brute_first_stage(load_model("fast")),
}


def _brute_first_stage(model: DigitModel) -> DigitModel:
    """The model with its first stage searched by brute force, not screened (same answers)."""
    model._knn._index._screen = None
    return model


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """(fewest seconds, the last result) of ``repeat`` runs."""
    best, _, result = best_of_with_cpu(repeat, run)
    return best, result


def best_of_with_cpu(repeat: int, run: Callable[[], object]) -> tuple[float, float, object]:
    """(fewest seconds, fewest CPU seconds of all threads, the last result) of ``repeat`` runs.

    CPU seconds are what the run itself used: on a machine shared with other jobs they move
    less than the wall clock, which also counts the time the others held the cores."""
    best, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


def search_product(index: NeighborIndex, queries: np.ndarray) -> None:
    """The exact search's score tiles alone: its row blocks and tiles, on its threads."""
    lhs = index._query_side(queries)
    rows, width = 1000, 2048

    def scan(start: int) -> None:
        block = lhs[start : start + rows]
        tile = np.empty((len(block), width), np.float32)
        for first in range(0, len(index), width):
            refs = index._scoring[first : first + width]
            np.matmul(block, refs.T, out=tile[:, : len(refs)])

    run_blocks(scan, range(0, len(lhs), rows), cpu_count())


def fast_stages(repeat: int, train: np.ndarray, test: np.ndarray) -> None:
    """Print the ``fast`` preset's stages on validation digits, each best of ``repeat``
    (wall and CPU seconds, each as a ratio to the bare product's of the same run)."""
    images, labels = load_mnist("train")
    model = DigitModel(PRESETS["fast"]).fit(images[:50_000], labels[:50_000])
    digits = images[50_000:]
    model.predict(digits[:10])  # compiled kernels loaded before timing
    brute = NeighborIndex(model._knn._index.reference, algorithm="brute")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        times, predicted = _stage_times(model, brute, digits, train, test)
        best = {
            name: (min(best.get(name, t)[0], t[0]), min(best.get(name, t)[1], t[1]))
            for name, t in times.items()
        }
    bare, bare_cpu = best[BARE]
    errors = int(np.sum(np.asarray(predicted) != labels[50_000:]))
    print(f"\n`fast` on 10,000 validation digits ({errors} errors), {datetime.date.today()}, ")
    print(
        f"best of {repeat}\n\n| stage | seconds | × bare product | CPU seconds "
        "| × bare product, CPU |\n| --- | --- | --- | --- | --- |"
    )
    for name, (seconds, cpu) in best.items():
        ratios = f"{seconds / bare:.3f} | {cpu:.3f} | {cpu / bare_cpu:.3f}"
        print(f"| {name} | {seconds:.3f} | {ratios} |")


BARE = "bare product (10k × 60k raw pixels)"


def _stage_times(
    model: DigitModel, brute: NeighborIndex, digits: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[dict[str, tuple[float, float]], object]:
    """One run of :func:`fast_stages`: {stage: (wall, CPU seconds)} and the predictions."""
    times: dict[str, tuple[float, float]] = {}
    n_candidates = model.preset.rerank

    def timed(name: str, run: Callable[[], object]) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        times[name] = (time.perf_counter() - start, time.process_time() - start_cpu)
        return result

    timed(BARE, lambda: bare_product(train, test))
    pixels = timed("deskew + blur", lambda: model._pixels(as_images(digits)))
    first = timed("PCA-30", lambda: model._first_stage(pixels))
    _, candidates = timed(
        f"exact search for {n_candidates} candidates (screened)",
        lambda: model._nearest_references(first, n_candidates),
    )
    timed("(the same by brute force)", lambda: brute.search(first, n_candidates))
    timed("(brute force's product alone, nothing selected)", lambda: search_product(brute, first))
    references, rows = model._candidate_pixels(candidates)
    queries = pixels.reshape(-1, 28, 28)
    timed("tangent distance", lambda: model._second_stage(queries, references, rows, 4))
    predicted = timed("whole predict", lambda: model.predict(digits))
    return times, predicted


def accurate_stages(train: np.ndarray, test: np.ndarray) -> None:
    """Print ``accurate``'s stages on validation digits: wall and CPU seconds of each stage
    method over one ``predict``, as ratios to the bare product's of the same run."""
    images, labels = load_mnist("train")
    model = DigitModel(PRESETS["accurate"]).fit(images[:50_000], labels[:50_000])
    digits = images[50_000:]
    model.predict(digits[:20])  # compiled kernels loaded before timing
    rows: dict[str, list[float]] = {}

    def timed(name_of: Callable[..., str], method: Callable[..., Any]) -> Callable[..., Any]:
        """The method, adding its wall and CPU seconds to the row ``name_of(*args)`` names."""

        def run(*args: Any) -> Any:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = method(*args)
            spent = rows.setdefault(name_of(*args), [0.0, 0.0])
            spent[0] += time.perf_counter() - start
            spent[1] += time.process_time() - start_cpu
            return result

        return run

    bare = best_of_with_cpu(1, lambda: bare_product(train, test))[:2]
    model._pixels = timed(lambda _: "deskew + blur", model._pixels)  # type: ignore[method-assign]
    model._search = timed(  # type: ignore[method-assign]
        lambda pixels, k: f"first stage (PCA, exact search): {len(pixels):,} digits × {k}",
        model._search,
    )
    model._idm = timed(  # type: ignore[method-assign]
        lambda q, r, c, *_: f"IDM: {len(q):,} digits × {c.shape[1]} candidates", model._idm
    )
    whole = best_of_with_cpu(1, lambda: model.predict(digits))
    del model._pixels, model._search, model._idm  # the class's methods again
    rows["the rest (tangent distance, margins, votes)"] = [
        whole[i] - sum(spent[i] for spent in rows.values()) for i in (0, 1)
    ]
    rows["whole predict"] = list(whole[:2])
    pixels = model._pixels(as_images(digits))
    k = model.preset.rerank
    rows[f"(first stage for every digit × {k}, one search)"] = list(
        best_of_with_cpu(1, lambda: model._search(pixels, k))[:2]
    )
    errors = int(np.sum(np.asarray(whole[2]) != labels[50_000:]))
    print(f"\n`accurate` on 10,000 validation digits ({errors} errors), {datetime.date.today()}")
    print(f"bare product {bare[0]:.2f} s, {bare[1]:.2f} CPU s\n")
    print("| stage | seconds | × bare product | CPU seconds | × bare product, CPU |")
    print("| --- | --- | --- | --- | --- |")
    for name, (seconds, cpu) in rows.items():
        ratios = f"{seconds / bare[0]:.3f} | {cpu:.3f} | {cpu / bare[1]:.3f}"
        print(f"| {name} | {seconds:.3f} | {ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=[*PRESETS, *VARIANTS])
    parser.add_argument("--stages", action="store_true", help="fast's stages on validation")
    parser.add_argument(
        "--accurate-stages", action="store_true", help="accurate's stages on validation"
    )
    args = parser.parse_args()
    train_images, _ = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32)
    test = test_images.reshape(len(test_images), -1).astype(np.float32)
    if args.stages:
        fast_stages(args.repeat, train, test)
        return
    if args.accurate_stages:
        accurate_stages(train, test)
        return
    print(
        f"\nMNIST test set, {datetime.date.today()}, {os.cpu_count()} cores, best of "
        f"{args.repeat}; each row's bare product timed just before it (a shared machine's load "
        "moves within a run)\n"
    )
    print(
        "| preset | test error | 10k seconds | bare product s | × bare product | images/s "
        "| one digit ms | × bare product, CPU seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.presets:
        model = VARIANTS[name]() if name in VARIANTS else load_model(name)
        model.predict(test_images[:1])  # compiled kernels loaded before timing
        one, _ = best_of(3, lambda m=model: m.predict(test_images[1]))
        bare, bare_cpu, _ = best_of_with_cpu(args.repeat, lambda: bare_product(train, test))
        seconds, cpu, predicted = best_of_with_cpu(
            1 if name.startswith("accurate") else args.repeat,
            lambda m=model: m.predict(test_images),
        )
        error = np.mean(np.asarray(predicted) != test_labels)
        print(
            f"| {name} | {100 * error:.2f} % | {seconds:.2f} | {bare:.2f} | {seconds / bare:.3f} "
            f"| {len(test) / seconds:,.0f} | {1000 * one:.0f} | {cpu / bare_cpu:.3f} |"
        )


if __name__ == "__main__":
    main()
