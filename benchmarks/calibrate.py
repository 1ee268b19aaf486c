"""Fit the vote smoothing of a preset (``knn_digits.calibration``) and measure calibration.

Fit the preset on the first 50,000 MNIST training digits; read ``--queries`` of the last
10,000 (validation: the test set is never loaded), and real writers' pen digits through the
app's pipeline (``real_handwriting.py``; UCI pendigits, Alpaydin & Alimoglu, CC BY 4.0). The
smoothing strength is fitted by log-loss on the first half of the validation digits together
with the tune writers' digits (drawings are what the app reads, and a k-NN is more confident
on them than it is right), and measured on the other half and the confirm writers: expected
calibration error (ECE) of the plain vote shares and of the smoothed probabilities.

Run: ``python benchmarks/calibrate.py [--preset accurate] [--queries 4000] [--realdata DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from knn_digits import load_mnist
from knn_digits.calibration import expected_calibration_error, fit_smoothing, smooth
from knn_digits.errors import KnnDigitsError
from knn_digits.models import DEFAULT_PRESET, DigitModel, get_preset, to_uint8
from knn_digits.preprocess import segment_digits
from real_handwriting import BRUSH_WIDTHS, DEFAULT_REALDATA, SPLITS, ink_of, pen_samples

N_FIT = 50_000


def pen_digits(
    realdata: Path, split: str, per_brush: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The split's pen digits drawn with each brush, as the app sees them (one digit each)."""
    digits, labels = [], []
    for width in BRUSH_WIDTHS.values():
        for sample in pen_samples(realdata, SPLITS[split][0], width, rng, per_brush):
            try:
                pieces = segment_digits(ink_of(sample))
            except KnnDigitsError:
                continue
            if len(pieces) == 1:
                digits.append(to_uint8(pieces[0]))
                labels.append(sample.label)
    return np.stack(digits), np.array(labels)


def row(name: str, shares: np.ndarray, labels: np.ndarray, strength: float) -> str:
    before = expected_calibration_error(shares, labels)
    after = expected_calibration_error(smooth(shares, strength), labels)
    error = 100 * np.mean(shares.argmax(axis=1) != labels)
    return (
        f"| {name} | {len(labels):,} | {error:.2f} % | {100 * before:.2f} % | {100 * after:.2f} % |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--queries", type=int, default=4000, help="validation digits read")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, metavar="DIR")
    parser.add_argument("--per-brush", type=int, default=400, help="pen digits per brush")
    args = parser.parse_args(argv)
    if not (args.realdata / "pendigits-orig.tra.gz").is_file():
        parser.error(f"{args.realdata}: no pendigits-orig.tra.gz (give --realdata DIR)")

    preset = dataclasses.replace(get_preset(args.preset), smoothing=0.0)
    images, labels = load_mnist("train")
    model = DigitModel(preset).fit(images[:N_FIT], labels[:N_FIT])
    queries = slice(N_FIT, N_FIT + args.queries)
    shares = model.predict_proba(images[queries])
    truth = labels[queries]
    half = len(truth) // 2
    rng = np.random.default_rng(0)
    pen = {
        split: pen_digits(args.realdata, split, args.per_brush, rng)
        for split in ("tune", "confirm")
    }
    drawn = model.for_drawings().without_cascade()  # as the app reads drawings
    pen_shares = {split: drawn.predict_proba(digits) for split, (digits, _) in pen.items()}
    strength = fit_smoothing(
        np.concatenate([shares[:half], pen_shares["tune"]]),
        np.concatenate([truth[:half], pen["tune"][1]]),
    )
    lines = [
        f"Preset `{args.preset}` fitted on MNIST train[:50000]; smoothing fitted on {half:,} "
        f"validation digits and {len(pen['tune'][1]):,} tune writers' pen digits: "
        f"**{strength:.4g}**.",
        "",
        "| digits | n | error | ECE, vote shares | ECE, smoothed |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("MNIST validation (the other half)", shares[half:], truth[half:], strength),
        row("pen digits, confirm writers", pen_shares["confirm"], pen["confirm"][1], strength),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
