"""Choose the ``accurate`` preset's cascade on the validation split: where can IDM be skipped?

Fit on the first 50,000 MNIST training digits (plus the preset's styled references), validate
on the last 10,000 (the test set is never loaded). For every validation digit: the full second
stage (IDM on the 200 first-stage candidates, the 30 nearest also distorted) and the cascade's
cheap path (tangent distance to the T nearest, then IDM on the C tangent-nearest only, the D
nearest of them also distorted). A digit keeps the cheap path's answer when its tangent margin
(nearest other class / nearest, over the T) is more than θ and the cheap path's nearest IDM
distance is at most ρ (a far digit, unlike its references, is doubtful however one-sided its
neighbours: set at a quantile of the validation digits' cheap nearest distances).

Rule: the fewest IDM comparisons per digit whose validation errors are no more than the full
second stage's, and which loses at most ``LOST`` digit the full stage reads right (a cascade
that trades wins against losses on validation may lose more on other digits). The full stage's
distances are cached (``--cache``): they take most of the run (~3 minutes on two idle cores).

Run: ``python benchmarks/cascade.py [--queries 10000]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import numpy as np

from knn_digits import load_mnist, paths
from knn_digits.cascade import tangent_margin
from knn_digits.models import PRESETS, DigitModel, as_images
from knn_digits.neighbors import break_ties
from knn_digits.tangent import tangent_distance

N_FIT = 50_000
TANGENTS = (20,)  # T: first-stage candidates ranked by tangent distance (40: no better)
IDM_FEW = (8, 12)  # C: IDM comparisons of a clear digit
# D: of them, the IDM-nearest also tried distorted (6 more each). At least 1: segmentation's
# scorer compares a digit's nearest distance across readings, so a clear digit's must be on
# the full stage's scale (with D = 0 a touching "09" was read as one "9": the pieces, clear,
# lost their distortions and looked farther than the merged blob, doubtful, that kept them).
DISTORTED = (1, 2)
MARGINS = np.round(np.arange(1.1, 2.01, 0.05), 2)  # θ
FAR = (90, 93, 95, 96, 97, 98, 99, 100)  # ρ: quantile (%) of the cheap nearest distances
SHOWN = ((1.2, 100), (1.2, 95), (1.3, 96), (1.3, 100), (1.5, 96), (1.5, 100), (2.0, 100))
LOST = 1  # validation digits the full stage reads right and the cascade may read wrong


def predictions(model: DigitModel, distances: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The model's vote over each row's k nearest by the second-stage distance."""
    k = model.n_neighbors
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    nearest = np.take_along_axis(distances, order, axis=1).astype(np.float64)
    votes, voters = model._votes(nearest, np.take_along_axis(candidates, order, axis=1))
    return break_ties(votes, voters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    images, labels = load_mnist("train")
    preset = dataclasses.replace(PRESETS["accurate"], cascade_margin=0.0)
    model = DigitModel(preset).fit(images[:N_FIT], labels[:N_FIT])
    val_images = images[N_FIT : N_FIT + args.queries]
    truth = labels[N_FIT : N_FIT + args.queries].astype(np.int64)
    pixels = model._pixels(as_images(val_images))
    queries = pixels.reshape(-1, 28, 28)
    references = model._train_pixels
    _, candidates = model._search(pixels, preset.rerank)

    cache = args.cache or paths.cache_dir() / f"cascade-full-{preset.key()}-{args.queries}.npz"
    if cache.is_file():
        full = np.load(cache)["distances"]
    else:
        full = model._second_stage(queries, references, candidates)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, distances=full)
    full_pred = predictions(model, full, candidates)
    full_right = full_pred == truth
    full_errors = int(np.sum(~full_right))
    full_cost = preset.rerank + 6 * preset.distorted
    print(
        f"validation: {args.queries} digits; full second stage {full_errors} errors "
        f"({full_cost} IDM comparisons per digit)\n"
    )
    print("| T | C | D | θ | ρ | clear digits | errors | lost / won | IDM comparisons per digit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    best = None
    for n_tangents in TANGENTS:
        near = candidates[:, :n_tangents]
        tangents = tangent_distance(queries, references, near, sigma=preset.tangent_sigma)
        margin = tangent_margin(tangents, model.train_labels_[near])
        tangent_order = np.argsort(tangents, axis=1, kind="stable")
        for few, distorted in itertools.product(IDM_FEW, DISTORTED):
            chosen = np.take_along_axis(near, tangent_order[:, :few], axis=1)
            cheap = model._idm(queries, references, chosen, distorted)
            cheap_right = predictions(model, cheap, chosen) == truth
            cheap_nearest = cheap.min(axis=1)
            per_clear = few + 6 * distorted
            for theta, quantile in itertools.product(MARGINS, FAR):
                far = np.percentile(cheap_nearest, quantile) if quantile < 100 else np.inf
                one_sided = margin > theta
                clear = one_sided & (cheap_nearest <= far)
                right = np.where(clear, cheap_right, full_right)
                errors = int(np.sum(~right))
                lost, won = int(np.sum(full_right & ~right)), int(np.sum(~full_right & right))
                # Every one-sided digit pays the cheap path, the doubtful ones the full stage too.
                cost = per_clear * one_sided.mean() + full_cost * (1 - clear.mean())
                setting = (n_tangents, few, distorted, theta, round(float(far), 1))
                if errors <= full_errors and lost <= LOST and (best is None or cost < best[0]):
                    best = (cost, setting, errors, lost, clear.mean())
                if (theta, quantile) in SHOWN:
                    print(
                        f"| {n_tangents} | {few} | {distorted} | {theta} "
                        f"| {far:.1f} ({quantile} %) | {100 * clear.mean():.1f} % | {errors} "
                        f"| {lost} / {won} | {cost:.1f} |"
                    )
    if best is None:
        print("\nno cascade keeps the errors within the rule")
        return
    cost, (n_tangents, few, distorted, theta, far), errors, lost, share = best
    print(
        f"\nchosen: T = {n_tangents}, C = {few}, D = {distorted}, θ = {theta}, ρ = {far}: "
        f"{errors} errors ({lost} lost), {100 * share:.1f} % clear, {cost:.1f} IDM comparisons "
        f"per digit (full: {full_errors}, {full_cost})"
    )


if __name__ == "__main__":
    main()
