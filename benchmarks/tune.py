"""Model selection for the ``fast`` and ``accurate`` presets, on the validation split only.

Fit on the first 50,000 MNIST training images, validate on the last 10,000; the test set is
never loaded. Writes the tables and the choices to ``docs/validation.md``.

* ``fast``: deskew → optional blur → PCA → Euclidean k-NN. Grid over blur sigma, PCA
  dimensions, k and weights. Rule: the lowest validation error among configurations with at most
  :data:`FAST_MAX_DIMS` dimensions (above that the search alone exceeds the speed budget of
  0.15 × the bare raw-pixel product), ties to fewer dimensions, then smaller k.
* ``accurate``: first stage deskew → PCA-50 → the N nearest (N ≤ 200), then IDM on the raw
  images, with distorted copies of the M IDM-nearest candidates (rotations ±8°, shears ±0.25,
  scales 0.9/1.1), then a k-NN vote weighted by 1/d^p. Grid over N, M, k and p. Rule: the
  lowest validation error; ties (within :data:`TIE` errors) to fewer IDM comparisons per query,
  then smaller k.

Run: ``python benchmarks/tune.py [--queries 10000] [--out docs/validation.md]``; the full run
takes about 20 minutes on two cores (most of it IDM: 10,000 × (200 + 3 × 6 × 30) pairs).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knn_digits import load_mnist
from knn_digits.features import PCA, as_float_images, blur, deskew
from knn_digits.neighbors import break_ties, search_kneighbors, vote
from knn_digits.rerank import idm_candidates

N_FIT = 50_000
FAST_SIGMAS = (0.0, 0.5)
FAST_DIMS = (30, 40, 50)
FAST_MAX_DIMS = 40
FAST_KS = (1, 3, 4, 5, 6)
ACC_DIMS = 50  # first-stage PCA of `accurate` (DESIGN.md §3: true class in the top 100 99.9 %)
ACC_NS = (50, 100, 200)
ACC_MS = (0, 10, 20, 30)
ACC_KS = (1, 3, 4, 5, 6, 8)
ACC_POWERS = (0.0, 1.0, 4.0, 8.0)  # vote weight 1/d^p; p = 0 is a uniform vote
DISTORTIONS = {"angles": (8.0, -8.0), "shears": (0.25, -0.25), "scales": (0.9, 1.1)}
N_DISTORTIONS = sum(len(v) for v in DISTORTIONS.values())
TIE = 2  # validation errors (of 10,000): closer than this is noise, so the cheaper wins


@dataclass
class Row:
    """One validated configuration."""

    params: dict[str, float | int | str]
    errors: int
    n_queries: int
    cost: float  # seconds of first-stage search (fast) or IDM comparisons per query (accurate)

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.n_queries


def knn_errors(
    dist: np.ndarray, classes: np.ndarray, truth: np.ndarray, k: int, power: float
) -> int:
    """Errors of a k-NN vote over neighbours sorted nearest first, weighted by 1/d^power."""
    d, c = dist[:, :k], classes[:, :k]
    votes = vote(d**power, c, 10, "distance") if power > 0 else vote(d, c, 10, "uniform")
    return int(np.sum(break_ties(votes, c) != truth))


def tune_fast(
    train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray
) -> list[Row]:
    """Grid over blur sigma × PCA dims × k × weights; the search time is the cost."""
    rows = []
    train_ds, val_ds = deskew(train), deskew(val)
    for sigma in FAST_SIGMAS:
        a = blur(train_ds, sigma).reshape(len(train), -1)
        b = blur(val_ds, sigma).reshape(len(val), -1)
        for dims in FAST_DIMS:
            pca = PCA(dims).fit(a)
            fa, fb = pca.transform(a), pca.transform(b)
            start = time.perf_counter()
            dist, idx = search_kneighbors(fb, fa, max(FAST_KS))
            seconds = time.perf_counter() - start
            for k, weights in itertools.product(FAST_KS, ("uniform", "distance")):
                if k == 1 and weights == "distance":
                    continue
                power = 1.0 if weights == "distance" else 0.0
                errors = knn_errors(dist, y_train[idx], y_val, k, power)
                params = {"blur": sigma, "pca": dims, "k": k, "weights": weights}
                rows.append(Row(params, errors, len(val), seconds))
    return rows


def choose_fast(rows: Sequence[Row]) -> Row:
    allowed = [r for r in rows if int(r.params["pca"]) <= FAST_MAX_DIMS]
    return min(allowed, key=lambda r: (r.errors, r.params["pca"], r.params["k"]))


def tune_accurate(
    train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray
) -> list[Row]:
    """First stage once at the largest N; IDM with and without distortions; vote grid."""
    train_ds = deskew(train).reshape(len(train), -1)
    pca = PCA(ACC_DIMS).fit(train_ds)
    _, cand = search_kneighbors(
        pca.transform(deskew(val).reshape(len(val), -1)), pca.transform(train_ds), max(ACC_NS)
    )
    refs = as_float_images(train)
    plain = idm_candidates(val, refs, cand)  # (n_val, 200)
    rows = []
    for n in ACC_NS:
        # The nearest M are taken among the first N candidates, so each N gets its own run;
        # smaller M are the same run with the distortions kept for the M nearest only.
        distorted = idm_candidates(
            val, refs, cand[:, :n], distortions=DISTORTIONS, n_distorted=max(ACC_MS)
        )
        rank = np.argsort(np.argsort(plain[:, :n], axis=1, kind="stable"), axis=1)
        for m in ACC_MS:
            dist = plain[:, :n] if m == 0 else np.where(rank < m, distorted, plain[:, :n])
            order = np.argsort(dist, axis=1, kind="stable")
            d_sorted = np.take_along_axis(dist, order, axis=1)
            c_sorted = y_train[np.take_along_axis(cand[:, :n], order, axis=1)]
            for k, power in itertools.product(ACC_KS, ACC_POWERS):
                if k == 1 and power:
                    continue
                errors = knn_errors(d_sorted, c_sorted, y_val, k, power)
                params = {"N": n, "M": m, "k": k, "p": power}
                rows.append(Row(params, errors, len(val), n + N_DISTORTIONS * m))
    return rows


def choose_accurate(rows: Sequence[Row]) -> Row:
    best = min(r.errors for r in rows)
    near = [r for r in rows if r.errors <= best + TIE]
    return min(near, key=lambda r: (r.cost, r.params["k"], r.errors))


def table(rows: Sequence[Row], cost_name: str, chosen: Row) -> str:
    """A markdown table, best first; the chosen row is marked."""
    keys = list(rows[0].params)
    lines = [
        "| " + " | ".join(keys) + f" | val. error % | errors | {cost_name} |",
        "|" + " --- |" * (len(keys) + 3),
    ]
    for r in sorted(rows, key=lambda r: (r.errors, r.cost)):
        mark = " **← chosen**" if r is chosen else ""
        values = " | ".join(str(r.params[k]) for k in keys)
        lines.append(f"| {values} | {r.error_pct:.2f}{mark} | {r.errors} | {r.cost:.3g} |")
    return "\n".join(lines)


def summary(rows: Sequence[Row], group: Sequence[str], cost_name: str, chosen: Row) -> str:
    """Two tables: the best row of every ``group`` combination, then all rows of the chosen's."""
    best: dict[tuple[object, ...], Row] = {}
    for r in rows:
        key = tuple(r.params[g] for g in group)
        if key not in best or r.errors < best[key].errors:
            best[key] = r
    same = [r for r in rows if all(r.params[g] == chosen.params[g] for g in group)]
    where = ", ".join(f"{g} = {chosen.params[g]}" for g in group)
    return "\n".join(
        [
            f"Best of each {' × '.join(group)}:",
            "",
            table(list(best.values()), cost_name, chosen),
            "",
            f"Every setting with {where}:",
            "",
            table(same, cost_name, chosen),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000, help="validation images used")
    parser.add_argument("--out", type=Path, default=Path("docs/validation.md"))
    parser.add_argument("--skip-accurate", action="store_true", help="only the fast grid")
    args = parser.parse_args(argv)

    images, labels = load_mnist("train")
    labels = labels.astype(np.int64)
    train, y_train = images[:N_FIT], labels[:N_FIT]
    val, y_val = images[N_FIT : N_FIT + args.queries], labels[N_FIT : N_FIT + args.queries]

    started = time.perf_counter()
    fast_rows = tune_fast(train, y_train, val, y_val)
    fast = choose_fast(fast_rows)
    print(f"fast: {fast.params} -> {fast.error_pct:.2f} %", flush=True)
    sections = [
        "## `fast`: deskew → blur → PCA → k-NN",
        "",
        f"Rule: lowest validation error with at most {FAST_MAX_DIMS} PCA dimensions (the "
        "speed budget), ties to fewer dimensions, then smaller k. Cost: seconds for the "
        f"first-stage search of {len(val)} queries among {N_FIT} (a shared 2-core machine: "
        "compare within the table only).",
        "",
        summary(fast_rows, ("blur", "pca"), "search s", fast),
    ]
    if not args.skip_accurate:
        acc_rows = tune_accurate(train, y_train, val, y_val)
        acc = choose_accurate(acc_rows)
        print(f"accurate: {acc.params} -> {acc.error_pct:.2f} %", flush=True)
        sections += [
            "",
            "## `accurate`: deskew → PCA-50 → N candidates → IDM (+ distortions) → k-NN",
            "",
            f"IDM (Sobel channels, 3×3 context, ±2 px) on the raw images of the N first-stage "
            f"candidates; for the M nearest by IDM also {N_DISTORTIONS} distorted copies "
            f"({DISTORTIONS}), the smallest distance counts; vote over the k nearest with "
            f"weight 1/d^p (p = 0: uniform). Rule: lowest error; configurations within {TIE} "
            "errors of it count as tied and the one with fewest IDM comparisons per query "
            "wins, then smaller k.",
            "",
            summary(acc_rows, ("N", "M"), "IDM per query", acc),
        ]
    header = [
        "# Validation results",
        "",
        f"Fit on MNIST training images 0–{N_FIT - 1}, validated on {len(val)} images from "
        f"{N_FIT} on; the test set is not used. Written by `python benchmarks/tune.py "
        f"--queries {args.queries}` on {datetime.date.today()} in "
        f"{(time.perf_counter() - started) / 60:.0f} min.",
        "",
    ]
    args.out.write_text("\n".join(header + sections) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
