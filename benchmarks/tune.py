"""Model selection for the ``fast`` and ``accurate`` presets, on the validation split only.

Fit on the first 50,000 MNIST training images, validate on the last 10,000; the test set is
never loaded. Writes the tables and the choices to ``docs/validation.md``.

* ``fast``: deskew → optional blur → PCA → the N nearest → one-sided tangent distance on the
  deskewed (blurred) pixels → k-NN; N = 0 is the plain PCA k-NN. Grid over blur sigma, PCA
  dimensions, N, the tangents' smoothing sigma, k and weights. Rule: the lowest validation
  error within the speed budget (at most :data:`FAST_MAX_DIMS` dimensions and
  :data:`FAST_MAX_CANDIDATES` candidates: what fits in 0.15 × the bare raw-pixel product,
  measured with ``benchmarks/bench_presets.py``); ties (within :data:`TIE` errors) to fewer
  candidates, fewer dimensions, then smaller k.
* ``accurate``: first stage deskew → PCA-50 → the N nearest (N ≤ 200), then IDM on the raw or
  on the deskewed images, with distorted copies of the M IDM-nearest candidates (rotations
  ±8°, shears ±0.25, scales 0.9/1.1), then a k-NN vote weighted by 1/d^p. Grid over the
  images, N, M, k and p. Rule: the lowest validation error; ties (within :data:`TIE` errors) to
  fewer IDM comparisons per query, then smaller k.

Run: ``python benchmarks/tune.py [--queries 10000] [--out docs/validation.md]``; the full run
takes about 15 minutes on two cores (most of it IDM: 10,000 × (200 + 3 × 6 × 30) pairs for
each kind of image).
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
from knn_digits.features import PCA, blur, deskew
from knn_digits.neighbors import break_ties, search_kneighbors, vote
from knn_digits.rerank import idm_candidates
from knn_digits.tangent import tangent_distance

N_FIT = 50_000
FAST_SIGMAS = (0.0, 0.5)
FAST_DIMS = (30, 40, 50)
FAST_MAX_DIMS = 40
FAST_CANDIDATES = (0, 10, 20, 50)  # N re-ranked by tangent distance; 0 = none
FAST_MAX_CANDIDATES = 20
FAST_TANGENT_SIGMAS = (0.75, 1.0, 1.25)
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
    """Grid over blur × PCA × N × tangent sigma × k × weights; the cost is N."""
    rows = []
    train_ds, val_ds = deskew(train), deskew(val)
    n_max = max(FAST_CANDIDATES)
    for sigma in FAST_SIGMAS:
        a = blur(train_ds, sigma).reshape(len(train), -1)
        b = blur(val_ds, sigma)
        for dims in FAST_DIMS:
            pca = PCA(dims).fit(a)
            dist, idx = search_kneighbors(
                pca.transform(b.reshape(len(b), -1)), pca.transform(a), n_max
            )
            stages = [(0, 0.0, dist, idx)]  # candidates are nearest first: N is a prefix
            for tangent_sigma in FAST_TANGENT_SIGMAS:
                td = tangent_distance(b, a, idx, sigma=tangent_sigma)
                for n in FAST_CANDIDATES[1:]:
                    order = np.argsort(td[:, :n], axis=1, kind="stable")
                    stages.append(
                        (
                            n,
                            tangent_sigma,
                            np.take_along_axis(td[:, :n], order, axis=1),
                            np.take_along_axis(idx[:, :n], order, axis=1),
                        )
                    )
            for (n, tangent_sigma, d, i), k, weights in itertools.product(
                stages, FAST_KS, ("uniform", "distance")
            ):
                if k == 1 and weights == "distance":
                    continue
                power = 1.0 if weights == "distance" else 0.0
                errors = knn_errors(d, y_train[i], y_val, k, power)
                params = {
                    "blur": sigma,
                    "pca": dims,
                    "N": n,
                    "tangent sigma": tangent_sigma,
                    "k": k,
                    "weights": weights,
                }
                rows.append(Row(params, errors, len(val), n))
    return rows


def choose_fast(rows: Sequence[Row]) -> Row:
    allowed = [
        r
        for r in rows
        if int(r.params["pca"]) <= FAST_MAX_DIMS and int(r.params["N"]) <= FAST_MAX_CANDIDATES
    ]
    best = min(r.errors for r in allowed)
    near = [r for r in allowed if r.errors <= best + TIE]
    return min(near, key=lambda r: (r.params["N"], r.params["pca"], r.params["k"], r.errors))


def tune_accurate(
    train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray
) -> list[Row]:
    """First stage once at the largest N; IDM with and without distortions; vote grid."""
    train_ds, val_ds = deskew(train), deskew(val)
    pca = PCA(ACC_DIMS).fit(train_ds.reshape(len(train), -1))
    _, cand = search_kneighbors(
        pca.transform(val_ds.reshape(len(val), -1)),
        pca.transform(train_ds.reshape(len(train), -1)),
        max(ACC_NS),
    )
    rows = []
    for images, queries, refs in (("raw", val, train), ("deskewed", val_ds, train_ds)):
        plain = idm_candidates(queries, refs, cand)  # (n_val, 200)
        for n in ACC_NS:
            # The nearest M are taken among the first N candidates, so each N gets its own
            # run; smaller M are the same run with the distortions kept for the M nearest only.
            distorted = idm_candidates(
                queries, refs, cand[:, :n], distortions=DISTORTIONS, n_distorted=max(ACC_MS)
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
                    params = {"images": images, "N": n, "M": m, "k": k, "p": power}
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
        "## `fast`: deskew → blur → PCA → N candidates → tangent distance → k-NN",
        "",
        "One-sided tangent distance (7 tangents of the query, smoothed by the tangent sigma) "
        "on the deskewed, blurred pixels of the first stage's N nearest; N = 0 is the plain "
        f"PCA k-NN. Rule: lowest validation error within the speed budget (at most "
        f"{FAST_MAX_DIMS} PCA dimensions and {FAST_MAX_CANDIDATES} candidates); "
        f"configurations within {TIE} errors of it count as tied and the one with fewer "
        "candidates wins, then fewer dimensions, then smaller k.",
        "",
        summary(fast_rows, ("blur", "pca", "N"), "candidates", fast),
    ]
    if not args.skip_accurate:
        acc_rows = tune_accurate(train, y_train, val, y_val)
        acc = choose_accurate(acc_rows)
        print(f"accurate: {acc.params} -> {acc.error_pct:.2f} %", flush=True)
        sections += [
            "",
            "## `accurate`: deskew → PCA-50 → N candidates → IDM (+ distortions) → k-NN",
            "",
            f"IDM (Sobel channels, 3×3 context, ±2 px) on the raw or the deskewed images of "
            f"the N first-stage candidates; for the M nearest by IDM also {N_DISTORTIONS} "
            f"distorted copies "
            f"({DISTORTIONS}), the smallest distance counts; vote over the k nearest with "
            f"weight 1/d^p (p = 0: uniform). Rule: lowest error; configurations within {TIE} "
            "errors of it count as tied and the one with fewest IDM comparisons per query "
            "wins, then smaller k.",
            "",
            summary(acc_rows, ("images", "N", "M"), "IDM per query", acc),
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
