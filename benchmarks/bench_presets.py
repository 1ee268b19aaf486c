"""Speed of the presets against the bare raw-pixel product, in the same run.

The yardstick is the bare float32 product ``test @ train.T`` on raw pixels (the cost floor of
brute-force raw-pixel kNN), timed in the same run. Issue 11's targets: ``fast`` classifies the
10,000 MNIST test digits in at most 0.067 × the product (≥ 30,000 digits/s), ``accurate`` in
at most 3 × (≥ 700 digits/s), one drawing in at most 100 ms for every preset. Fitting (or
loading the cache) happens before the clock starts.

Run: ``python benchmarks/bench_presets.py [--repeat 2] [--presets fast accurate]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Callable

import numpy as np

from bench_knn import bare_product
from knn_digits import load_mnist, load_model


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=["raw", "fast", "accurate"])
    args = parser.parse_args()
    train_images, _ = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32)
    test = test_images.reshape(len(test_images), -1).astype(np.float32)
    bare, _ = best_of(args.repeat, lambda: bare_product(train, test))
    print(
        f"\nMNIST test set, {datetime.date.today()}, {os.cpu_count()} cores, "
        f"best of {args.repeat}; bare product {bare:.2f} s\n"
    )
    print("| preset | test error | 10k seconds | × bare product | images/s | one digit ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.presets:
        model = load_model(name)
        model.predict(test_images[:1])  # compiled kernels loaded before timing
        one, _ = best_of(3, lambda m=model: m.predict(test_images[1]))
        seconds, predicted = best_of(
            args.repeat if name != "accurate" else 1, lambda m=model: m.predict(test_images)
        )
        error = np.mean(np.asarray(predicted) != test_labels)
        print(
            f"| {name} | {100 * error:.2f} % | {seconds:.2f} | {seconds / bare:.3f} "
            f"| {len(test) / seconds:,.0f} | {1000 * one:.0f} |"
        )


if __name__ == "__main__":
    main()
