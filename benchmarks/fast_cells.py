"""Choose the ``fast`` preset's approximate first stage (k-means cells) on the validation split.

Fit on the first 50,000 MNIST training digits, validate on the last 10,000 (the test set is
never loaded). The preset as it is, with its first stage exact or searching only the
``probes`` nearest of ``cells`` k-means cells (``knn_digits.neighbors.cells``); each variant's
validation errors, and its time for the 10,000 digits against the bare raw-pixel product of the
same queries in the same run (best of ``--repeat``).

Rule: the fastest variant whose errors stay within ``TIE`` (2) of the exact first stage's.

Run: ``python benchmarks/fast_cells.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import numpy as np

from bench_knn import bare_product
from knn_digits import load_mnist
from knn_digits.models import PRESETS, DigitModel
from knn_digits.neighbors.cells import CellIndex

N_FIT = 50_000
GRID = [(0, 0)] + [(cells, probes) for cells in (128, 256, 512) for probes in (4, 8, 16, 32)]
TIE = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    images, labels = load_mnist("train")
    val, truth = images[N_FIT:], labels[N_FIT:].astype(np.int64)
    flat_train = images[:N_FIT].reshape(N_FIT, -1).astype(np.float32)
    flat_val = val.reshape(len(val), -1).astype(np.float32)
    base = dataclasses.replace(PRESETS["fast"], cells=0, probes=0)
    exact = DigitModel(base).fit(images[:N_FIT], labels[:N_FIT])
    indexes = {cells: CellIndex(exact._knn._index.reference, cells) for cells, _ in GRID if cells}
    models = {(0, 0): exact}
    for cells, probes in GRID[1:]:
        model = copy.copy(exact)  # the same fitted first stage and pixels, other candidates
        model.preset = dataclasses.replace(base, cells=cells, probes=probes)
        model._cells = indexes[cells]
        models[(cells, probes)] = model
    best: dict[tuple[int, int], float] = {}
    errors: dict[tuple[int, int], int] = {}
    bare = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        bare_product(flat_train, flat_val)
        bare = min(bare, time.perf_counter() - start)
        for key in GRID:
            model = models[key]
            model.predict(val[:10])
            start = time.perf_counter()
            predicted = model.predict(val)
            best[key] = min(best.get(key, np.inf), time.perf_counter() - start)
            errors[key] = int(np.sum(predicted != truth))
    print(f"\nvalidation (10,000 digits, 50,000 references); bare product {bare:.2f} s\n")
    print("| first stage | errors | seconds | × bare product | digits/s |")
    print("| --- | --- | --- | --- | --- |")
    for key in GRID:
        name = "exact" if key == (0, 0) else f"{key[0]} cells, {key[1]} probes"
        print(
            f"| {name} | {errors[key]} | {best[key]:.3f} | {best[key] / bare:.3f} "
            f"| {len(val) / best[key]:,.0f} |"
        )
    allowed = [key for key in GRID if errors[key] <= errors[(0, 0)] + TIE]
    chosen = min(allowed, key=lambda key: best[key])
    print(f"\nchosen: {chosen} ({errors[chosen]} errors, {best[chosen] / bare:.3f} × bare)")


if __name__ == "__main__":
    main()
