"""What early abandoning saves in the image distortion model, and proof that it changes nothing.

Fit ``accurate`` on the first 50,000 MNIST training digits (the test set is never loaded) and
read validation digits 50,000 onwards through its full second stage (IDM on the first stage's
N nearest, the 30 IDM-nearest also distorted), once with abandoning (``nearest=k``, what the
model does) and once without (every distance computed), alternating, best of ``--repeat``. The
neighbours and predictions of both must be identical; the script fails otherwise.

Three readings: the full stage per digit at N = 200 and N = 1000 on a batch of validation
digits; the same on digits drawn on the app's pad (MNIST digits rendered with a round brush
and read back by ``sketch_to_mnist``); and one drawing's model time as the app pays it (a
batch of one through ``without_cascade().explain``, the median over ``--drawings`` drawings).

Run: ``python benchmarks/idm_abandon.py [--queries 2000] [--drawings 40] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from knn_digits import load_mnist, models
from knn_digits.cascade import k_nearest
from knn_digits.models import PRESETS, DigitModel, as_images
from knn_digits.neighbors import break_ties
from knn_digits.preprocess import render_drawing, sketch_to_mnist

N_FIT = 50_000
CANDIDATES = (200, 1000)


@contextlib.contextmanager
def plain_idm() -> Iterator[None]:
    """Every IDM distance computed: the model's calls with their ``nearest`` dropped."""
    abandoning = models.rerank.idm_candidates

    def plain(*args: Any, nearest: int | None = None, **kwargs: Any) -> np.ndarray:
        return abandoning(*args, **kwargs)

    models.rerank.idm_candidates = plain  # type: ignore[assignment]
    try:
        yield
    finally:
        models.rerank.idm_candidates = abandoning


def drawing(digit: np.ndarray) -> dict[str, Any]:
    """An MNIST digit drawn on the app's pad with a round brush: the pad's value."""
    return {"background": None, "layers": [render_drawing(digit)], "composite": None}


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def full_stage(
    model: DigitModel, images: np.ndarray, repeat: int, ways: dict[str, int | None]
) -> dict[str, Any]:
    """Seconds (best of ``repeat``) and (distances, indices) of the full stage, each way."""
    pixels = model._pixels(as_images(images))
    queries = pixels.reshape(-1, 28, 28)
    _, candidates = model._search(pixels, model.preset.rerank)
    references, rows = model._candidate_pixels(candidates)
    k = model.n_neighbors
    best = dict.fromkeys(ways, np.inf)
    found = {}
    for _ in range(repeat):
        for way, nearest in ways.items():
            keywords = {} if nearest is None else {"nearest": nearest}
            seconds, distances = timed(
                lambda kw=keywords: model._second_stage(queries, references, rows, **kw)
            )
            best[way] = min(best[way], seconds)
            found[way] = k_nearest(distances, candidates, k)
    for way in ways:
        for plain, other in zip(found["plain"], found[way], strict=True):
            if not np.array_equal(plain, other):
                raise SystemExit("abandoning changed the neighbours: a bug")
    return {**best, "neighbours": found["plain"]}


def one_drawing(
    model: DigitModel, drawings: list[np.ndarray], repeat: int, ways: dict[str, int | None]
) -> dict[str, float]:
    """Median model time (ms) of one drawing read alone, as the app reads it, each way."""
    times: dict[str, list[float]] = {way: [] for way in ways}
    for digit in drawings:
        for way in ways:
            with plain_idm() if way == "plain" else contextlib.nullcontext():
                read = functools.partial(model.explain, digit)
                times[way].append(min(timed(read)[0] for _ in range(repeat)))
    return {way: 1000 * float(np.median(t)) for way, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--drawings", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--plain-only",
        action="store_true",
        help="time the plain way only (runs on code from before early abandoning too)",
    )
    args = parser.parse_args()
    ways: dict[str, int | None] = {"plain": None}
    images, labels = load_mnist("train")
    val = images[N_FIT : N_FIT + args.queries]
    truth = labels[N_FIT : N_FIT + args.queries]
    drawn = np.stack([sketch_to_mnist(drawing(d)) for d in images[N_FIT : N_FIT + args.drawings]])
    preset = dataclasses.replace(PRESETS["accurate"], cascade_margin=0.0)
    model = DigitModel(preset).fit(images[:N_FIT], labels[:N_FIT])
    if not args.plain_only:
        ways["abandoning"] = preset.n_neighbors
    model.explain(val[:2])  # compiled kernels loaded before timing
    print(
        f"\n{datetime.date.today()}, {os.cpu_count()} cores; `accurate`'s full second stage "
        f"(k = {preset.n_neighbors}, {preset.distorted} nearest distorted), plain against "
        f"early abandoning in the same run, best of {args.repeat}\n"
    )
    print("| digits | N | plain ms/digit | abandoning ms/digit | abandoning / plain |")
    print("| --- | --- | --- | --- | --- |")
    for n_candidates in CANDIDATES:
        model.preset = dataclasses.replace(preset, rerank=n_candidates)
        for name, batch in ((f"{len(val)} validation", val), (f"{len(drawn)} drawn", drawn)):
            run = full_stage(model, batch, args.repeat, ways)
            ms = {way: 1000 * run[way] / len(batch) for way in ways}
            print(f"| {name} | {n_candidates} | {row(ms, '.2f')} |")
            if name.endswith("validation"):
                votes, voters = model._votes(*run["neighbours"])
                errors = int(np.sum(break_ties(votes, voters) != truth))
                print(f"|  | | {errors} errors, the same neighbours and predictions each way | | |")
        app = one_drawing(model, list(drawn), args.repeat, ways)
        print(
            f"| one drawing alone (the app), median of {len(drawn)} | {n_candidates} "
            f"| {row(app, '.1f')} |"
        )


def row(ms: dict[str, float], form: str) -> str:
    """Plain, abandoning and their ratio as table cells ("—" for a way not run)."""
    if "abandoning" not in ms:
        return f"{ms['plain']:{form}} | — | —"
    return (
        f"{ms['plain']:{form}} | {ms['abandoning']:{form}} | {ms['abandoning'] / ms['plain']:.2f}"
    )


if __name__ == "__main__":
    main()
