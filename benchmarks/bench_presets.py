"""Speed of the presets against the bare raw-pixel product, in the same run.

The yardstick is the bare float32 product ``test @ train.T`` on raw pixels (the cost floor of
brute-force raw-pixel kNN), timed in the same run. Issue 11's targets: ``fast`` classifies the
10,000 MNIST test digits in at most 0.067 × the product (≥ 30,000 digits/s), ``accurate`` in
at most 3 × (≥ 700 digits/s), one drawing in at most 100 ms for every preset. Fitting (or
loading the cache) happens before the clock starts.

The last column divides CPU seconds (all threads) instead of wall seconds: a shared machine's
other jobs move it less, since it leaves out the time they held the cores.

Besides the presets, their options left off by default: ``fast`` with candidates from k-means
cells, ``accurate`` without its cascade.

``--stages``: instead, where ``fast``'s time goes, stage by stage, on the validation split (fit
on training digits 0–49,999, 10,000 digits 50,000–59,999), as ratios to the same bare product;
beside the exact search, its product alone (the same score tiles on the same threads, nothing
selected), the floor of a brute-force first stage.

Run: ``python benchmarks/bench_presets.py [--repeat 2] [--presets fast accurate] [--stages]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import time
from collections.abc import Callable

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
}


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
    """Print the ``fast`` preset's stages on validation digits, each best of ``repeat``."""
    images, labels = load_mnist("train")
    model = DigitModel(PRESETS["fast"]).fit(images[:50_000], labels[:50_000])
    digits = images[50_000:]
    model.predict(digits[:10])  # compiled kernels loaded before timing
    n_candidates = PRESETS["fast"].rerank
    best: dict[str, float] = {}
    for _ in range(repeat):
        start = time.perf_counter()
        bare_product(train, test)
        times = {"bare product (10k × 60k raw pixels)": time.perf_counter() - start}
        start = time.perf_counter()
        pixels = model._pixels(as_images(digits))
        times["deskew + blur"] = time.perf_counter() - start
        start = time.perf_counter()
        first = model._first_stage(pixels)
        times["PCA-30"] = time.perf_counter() - start
        start = time.perf_counter()
        _, candidates = model._nearest_references(first, n_candidates)
        times[f"exact search for {n_candidates} candidates"] = time.perf_counter() - start
        start = time.perf_counter()
        search_product(model._knn._index, first)
        times["(its product alone, nothing selected)"] = time.perf_counter() - start
        start = time.perf_counter()
        references, rows = model._candidate_pixels(candidates)
        model._second_stage(pixels.reshape(-1, 28, 28), references, rows, model.n_neighbors)
        times["tangent distance"] = time.perf_counter() - start
        start = time.perf_counter()
        predicted = model.predict(digits)
        times["whole predict"] = time.perf_counter() - start
        best = {name: min(best.get(name, np.inf), t) for name, t in times.items()}
    bare = best["bare product (10k × 60k raw pixels)"]
    errors = int(np.sum(np.asarray(predicted) != labels[50_000:]))
    print(f"\n`fast` on 10,000 validation digits ({errors} errors), {datetime.date.today()}, ")
    print(f"best of {repeat}\n\n| stage | seconds | × bare product |\n| --- | --- | --- |")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.3f} | {seconds / bare:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=[*PRESETS, *VARIANTS])
    parser.add_argument("--stages", action="store_true", help="fast's stages on validation")
    args = parser.parse_args()
    train_images, _ = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32)
    test = test_images.reshape(len(test_images), -1).astype(np.float32)
    if args.stages:
        fast_stages(args.repeat, train, test)
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
