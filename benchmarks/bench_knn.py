"""Speed of our exact k-NN against its physical limit and its peers, in the same run.

Full MNIST (10,000 queries × 60,000 references, 784 raw pixels), k=3, Euclidean:

* bare product: ``test @ train.T`` in float32, chunk by chunk into one reused buffer — the
  matrix product every exact brute-force method must do, and nothing else;
* ours: ``KNNClassifier(3).fit(train).predict(test)`` — the pruned exact search (the default,
  ``algorithm="auto"``; also ``predict`` alone, its fit — the rotation and the first
  candidates' cells — done before the clock, and the fit alone) and brute force
  (``algorithm="brute"``);
* scikit-learn: ``KNeighborsClassifier(3, algorithm="brute")`` (it computes in float64);
* faiss: ``IndexFlatL2`` search for 3 neighbours, plus a majority vote; and
  ``IndexFlatL2Panorama`` (28 levels) on PCA-rotated data — faiss's exact search with the same
  pruning idea as ours (the rotation, fitted on the training set, is inside its time);
* hnswlib: an approximate graph index (M=16, ef_construction=200, ef=64): build and query
  times apart, and its recall of the exact 3 nearest (``--skip-hnsw`` leaves it out).

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
from knn_digits.neighbors import NeighborIndex, break_ties, vote

OURS = "ours: KNNClassifier(3) fit + predict (pruned exact search)"
PREDICT = "ours: predict only (fitted before the clock)"


def bare_product(train: np.ndarray, test: np.ndarray) -> None:
    rows = 1000
    out = np.empty((rows, len(train)), dtype=np.float32)
    for start in range(0, len(test), rows):
        chunk = test[start : start + rows]
        np.matmul(chunk, train.T, out=out[: len(chunk)])


def ours(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, algorithm: str = "auto"
) -> np.ndarray:
    return KNNClassifier(3, algorithm=algorithm).fit(train, labels).predict(test)  # type: ignore[arg-type]


def fit_only(train: np.ndarray, labels: np.ndarray) -> None:
    KNNClassifier(3).fit(train, labels)


def sklearn_brute(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(3, algorithm="brute").fit(train, labels).predict(test)


def faiss_flat(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(train.shape[1])
    index.add(train)
    _, indices = index.search(test, 3)
    return _vote(indices, labels)


def faiss_panorama(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    """faiss's exact Panorama search: it needs data rotated onto its principal axes."""
    import faiss

    pca = faiss.PCAMatrix(train.shape[1], train.shape[1])
    pca.train(train)
    index = faiss.IndexFlatL2Panorama(train.shape[1], 28)
    index.add(pca.apply(train))
    _, indices = index.search(pca.apply(test), 3)
    return _vote(indices, labels)


def _vote(indices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Our vote and tie rule over a peer's neighbours (nearest first)."""
    neighbour_labels = labels[indices].astype(np.int64)
    uniform = np.ones(indices.shape)
    return break_ties(vote(uniform, neighbour_labels, 10, "uniform"), neighbour_labels)


def hnsw(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, exact: np.ndarray
) -> dict[str, float]:
    """hnswlib's build and query times, recall of the exact 3 nearest and error (one run)."""
    import hnswlib

    start = time.perf_counter()
    index = hnswlib.Index(space="l2", dim=train.shape[1])
    index.init_index(max_elements=len(train), M=16, ef_construction=200, random_seed=0)
    index.add_items(train)
    built = time.perf_counter()
    index.set_ef(64)
    indices, _ = index.knn_query(test, k=3)
    done = time.perf_counter()
    recall = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(indices, exact, strict=True)])
    return {
        "build": built - start,
        "query": done - built,
        "recall": float(recall),
        "predicted": _vote(indices.astype(np.int64), labels),  # type: ignore[dict-item]
    }


def fallback_cost(repeat: int) -> float:
    """Pruned search (it gives up) over brute force on Gaussian noise, best of ``repeat``."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60_000, 784)).astype(np.float32)
    test = rng.normal(size=(2_000, 784)).astype(np.float32)
    indexes = {name: NeighborIndex(train, algorithm=name) for name in ("auto", "brute")}
    best = {name: np.inf for name in indexes}
    for _ in range(repeat):
        for name, index in indexes.items():
            start = time.perf_counter()
            index.search(test, 3)
            best[name] = min(best[name], time.perf_counter() - start)
    return best["auto"] / best["brute"]


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
    parser.add_argument("--skip-hnsw", action="store_true", help="leave out hnswlib")
    parser.add_argument(
        "--predict-only",
        action="store_true",
        help="only the bare product, our predict and our fit: to compare two versions of the "
        "code run back to back (PYTHONPATH=<checkout>/src)",
    )
    args = parser.parse_args()
    skip_peers = args.skip_peers or args.predict_only

    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32)
    test = test_images.reshape(len(test_images), -1).astype(np.float32)

    fitted = KNNClassifier(3).fit(train, train_labels)  # for the predict-only row
    contenders: dict[str, Callable[[], object]] = {
        "bare product test @ train.T (float32)": lambda: bare_product(train, test),
        OURS: lambda: ours(train, train_labels, test),
        PREDICT: lambda: fitted.predict(test),
        "ours: fit only (the rotation and the first candidates' cells)": lambda: fit_only(
            train, train_labels
        ),
        "ours, brute force (algorithm='brute')": lambda: ours(train, train_labels, test, "brute"),
    }
    if args.predict_only:
        del contenders[OURS], contenders["ours, brute force (algorithm='brute')"]
    if not skip_peers:
        contenders["scikit-learn brute, k=3"] = lambda: sklearn_brute(train, train_labels, test)
        contenders["faiss IndexFlatL2 + vote"] = lambda: faiss_flat(train, train_labels, test)
        contenders["faiss IndexFlatL2Panorama (PCA-rotated, 28 levels) + vote"] = lambda: (
            faiss_panorama(train, train_labels, test)
        )

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
    ours_time = best.get(OURS, best[PREDICT])
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
    if args.predict_only:
        return
    if not skip_peers and not args.skip_hnsw:
        exact = KNNClassifier(3).fit(train, train_labels).kneighbors(test, return_distance=False)
        graph = hnsw(train, train_labels, test, np.asarray(exact))
        error = 100 * np.mean(graph["predicted"] != test_labels)
        print(
            f"| hnswlib HNSW (M=16, ef=64; approximate) | build {graph['build']:.2f} + query "
            f"{graph['query']:.2f} | query {graph['query'] / bare:.2f} | "
            f"{graph['query'] / ours_time:.2f}× | recall@3 {100 * graph['recall']:.2f} % "
            f"| {error:.2f} % |"
        )
    noise_ratio = fallback_cost(args.repeat)
    print(
        f"\nRandom noise (2,000 × 60,000 × 784, Gaussian), where the bound can't prune: the "
        f"pruned search falls back to brute force at {noise_ratio:.2f}× its time"
    )
    print(f"\n`knn-digits evaluate --k 3` max RSS: {evaluate_max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
