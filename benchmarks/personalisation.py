"""Personalisation, measured: each writer uses the app, and every misread digit is taught.

Each development writer (UCI pendigits, Alpaydin & Alimoglu, CC BY 4.0; see
``real_handwriting.py``) draws their digits one by one, in a random order, on the app's canvas
(the Sketchpad value ``real_handwriting.pen_samples`` makes). A digit read wrong is taught with
its right label, as the Teach button does (``DigitService.teach``), while that digit has been
taught fewer than ``--per-class`` times; with ``--teach-close``, so is a digit read right whose
vote was close (the app answers "7 or 1?"), within the same limit. Each writer starts from the
plain model.

Printed per writer and overall: accuracy on the first and on the second half of their digits,
as read when they arrived, without teaching and with it, and how many digits were taught.

Run: ``python benchmarks/personalisation.py [--split confirm] [--per-class 3] [--brush medium]
[--teach-close]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

from knn_digits.app import DigitService
from knn_digits.calibration import doubt
from knn_digits.models import DEFAULT_PRESET, load_model
from real_handwriting import (
    BRUSH_WIDTHS,
    DEFAULT_REALDATA,
    SPLITS,
    Sample,
    first_digit,
    pen_samples,
    read_one,
)


def use_the_app(
    service: DigitService, samples: list[Sample], per_class: int, close: bool = False
) -> tuple[list[bool], int]:
    """Read each sample as it arrives, teaching misreads (with ``close``, also digits read right
    whose vote was close, as the app asks); (right or not per sample, digits taught)."""
    service.reload()  # the plain model: no other writer's digits
    taught: collections.Counter = collections.Counter()
    right = []
    for sample in samples:
        reading = read_one(service, sample)
        if reading is None:
            right.append(False)
            continue
        right.append(reading.text == str(sample.label))
        in_doubt = close and len(reading.labels) == 1 and doubt(reading.proba[0]) is not None
        if (not right[-1] or in_doubt) and taught[sample.label] < per_class:
            service.teach(first_digit(reading), sample.label)
            taught[sample.label] += 1
    return right, sum(taught.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, metavar="DIR")
    parser.add_argument("--split", choices=list(SPLITS), default="tune")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--brush", choices=list(BRUSH_WIDTHS), default="medium")
    parser.add_argument("--per-class", type=int, default=3, help="teach each digit at most N×")
    parser.add_argument(
        "--teach-close",
        action="store_true",
        help="also teach digits read right whose vote was close (the app shows '7 or 1?')",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.realdata / "pendigits-orig.tra.gz").is_file():
        parser.error(f"{args.realdata}: no pendigits-orig.tra.gz (give --realdata DIR)")

    preset = args.preset
    service = DigitService(load_model(preset))
    rng = np.random.default_rng(args.seed)
    teaching = "misread or in a close vote" if args.teach_close else "misread"
    print(
        f"Preset `{preset}`, split `{args.split}`, {args.brush} brush, digits taught when "
        f"{teaching}, at most {args.per_class} per digit. Data: UCI pendigits (Alpaydin et al.), "
        "CC BY 4.0.\n"
    )
    print(
        "| writer | digits | first half, plain → taught | second half, plain → taught | taught "
        "| right → wrong |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    totals = np.zeros((2, 2))  # [plain, taught] × [first, second half]: digits right
    counts = np.zeros(2)
    total_taught = total_lost = 0
    for writer in SPLITS[args.split].writers:
        samples = pen_samples(args.realdata, [writer], BRUSH_WIDTHS[args.brush], rng, 0)
        samples = [samples[i] for i in rng.permutation(len(samples))]
        half = len(samples) // 2
        plain, _ = use_the_app(service, samples, 0)
        taught, n_taught = use_the_app(service, samples, args.per_class, close=args.teach_close)
        lost = sum(a and not b for a, b in zip(plain, taught, strict=True))  # teaching's cost
        row = []
        for h, part in enumerate((slice(0, half), slice(half, None))):
            a, b = np.sum(plain[part]), np.sum(taught[part])
            n = len(plain[part])
            totals[:, h] += (a, b)
            counts[h] += n
            row.append(f"{100 * a / n:.1f} → {100 * b / n:.1f} %")
        total_taught += n_taught
        total_lost += lost
        print(
            f"| {writer} | {len(samples)} | {row[0]} | {row[1]} | {n_taught} | {lost} |",
            flush=True,
        )
    overall = [
        f"{100 * totals[0, h] / counts[h]:.2f} → {100 * totals[1, h] / counts[h]:.2f} %"
        for h in range(2)
    ]
    print(
        f"| all | {int(counts.sum())} | {overall[0]} | {overall[1]} | {total_taught} "
        f"| {total_lost} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
