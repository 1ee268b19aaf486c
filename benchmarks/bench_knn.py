"""Speed of our exact k-NN against its physical limit and its peers, in the same run.

Full MNIST (10,000 queries × 60,000 references, 784 raw pixels), k=3, Euclidean:

* bare product: ``test @ train.T`` in float32, chunk by chunk into one reused buffer — the
  matrix product every exact brute-force method must do, and nothing else;
* ours: ``KNNClassifier(3).fit(train).predict(test)``;
* scikit-learn: ``KNeighborsClassifier(3, algorithm="brute")`` (it computes in float64);
* faiss: ``IndexFlatL2`` search for 3 neighbours, plus a majority vote.

The machine is shared and noisy, so each contender runs ``--repeat`` times, interleaved, and
the best time counts; the table reports times as ratios to the bare product. Peak memory:
tracemalloc's peak for each in-process contender (numpy reports its buffers to it), and the
maximum RSS of a ``knn-digits evaluate`` subprocess.

Run: ``make bench`` or ``python benchmarks/bench_knn.py [--repeat 3] [--markdown]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from knn_digits import KNNClassifier, load_mnist
from knn_digits.neighbors import break_ties, vote


def bare_product(train: np.ndarray, test: np.ndarray) -> None:
    rows = 1000
    out = np.empty((rows, len(train)), dtype=np.float32)
    for start in range(0, len(test), rows):
        chunk = test[start : start + rows]
        np.matmul(chunk, train.T, out=out[: len(chunk)])


def ours(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    return KNNClassifier(3).fit(train, labels).predict(test)


def sklearn_brute(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(3, algorithm="brute").fit(train, labels).predict(test)


def faiss_flat(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(train.shape[1])
    index.add(train)
    distances, indices = index.search(test, 3)
    neighbour_labels = labels[indices].astype(np.int64)
    return break_ties(vote(distances, neighbour_labels, 10, "uniform"), neighbour_labels)


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """(seconds, tracemalloc peak in MiB, result) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def evaluate_max_rss_mib() -> float:
    """Maximum resident memory of the CLI's full evaluation, in MiB."""
    subprocess.run(
        [sys.executable, "-m", "knn_digits", "evaluate", "--k", "3"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true", help="only bare product and ours")
    args = parser.parse_args()

    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32)
    test = test_images.reshape(len(test_images), -1).astype(np.float32)

    contenders: dict[str, Callable[[], object]] = {
        "bare product test @ train.T (float32)": lambda: bare_product(train, test),
        "ours: KNNClassifier(3) fit + predict": lambda: ours(train, train_labels, test),
    }
    if not args.skip_peers:
        contenders["scikit-learn brute, k=3"] = lambda: sklearn_brute(train, train_labels, test)
        contenders["faiss IndexFlatL2 + vote"] = lambda: faiss_flat(train, train_labels, test)

    best: dict[str, float] = {}
    peaks: dict[str, float] = {}
    errors: dict[str, float] = {}
    for round_ in range(args.repeat):
        for name, run in contenders.items():
            seconds, peak, result = timed(run)
            best[name] = min(best.get(name, np.inf), seconds)
            peaks[name] = max(peaks.get(name, 0.0), peak)
            if result is not None:
                errors[name] = float(np.mean(np.asarray(result) != test_labels))
            print(f"round {round_ + 1}: {name}: {seconds:.2f} s", file=sys.stderr)

    bare = best["bare product test @ train.T (float32)"]
    ours_time = best["ours: KNNClassifier(3) fit + predict"]
    print(
        f"\nMNIST 10k × 60k, k=3, Euclidean, raw pixels — {datetime.date.today()}, "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"best of {args.repeat}\n"
    )
    print("| method | seconds | × bare product | ours is faster by | peak traced MiB | error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seconds in best.items():
        error = f"{100 * errors[name]:.2f} %" if name in errors else "—"
        print(
            f"| {name} | {seconds:.2f} | {seconds / bare:.2f} | {seconds / ours_time:.2f}× "
            f"| {peaks[name]:.0f} | {error} |"
        )
    print(f"\n`knn-digits evaluate --k 3` max RSS: {evaluate_max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
