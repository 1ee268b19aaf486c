"""How well numbers of several digits are read, through exactly the app's pipeline.

Numbers of 2–5 digits are composed from real writers' pen digits (``../shared/realdata``, see
``real_handwriting.py``: UCI "Pen-Based Recognition of Handwritten Digits", E. Alpaydin,
F. Alimoglu, 1998, CC BY 4.0), all the digits of a number by one writer. Each digit is scaled to
the number's height (±10 %, at most 1.3× as wide as high), jittered up or down by up to 5 % of
the height, and set after the one before with a gap between their ink boxes of one kind:

- touching: the ink boxes overlap by 0–5 % of the height (the strokes often touch);
- close: 0–12 % of the height apart;
- wide: 12–50 % of the height apart.

The number is drawn with a 14 px brush on the app's 420 px canvas, as large as fits (its height
20–45 % of the canvas), and sent to ``handle_classify`` as a Sketchpad value. A number is read
right if every digit is; its digit count is right if the app found as many digits as written.
"Cut by hand" reads each digit's own strokes, drawn where they are in the number, alone: the
share of numbers read right that way is what perfect segmentation would reach with today's
digit reader, and "right where cut by hand is" is segmentation's own share of those.
Model time is the time spent in the model's ``explain`` (every scoring and reading call), and
model reads the number of 28×28 candidates it read: on a shared machine the count is the
steadier measure of cost.

Split: ``--split tune`` is writers 1–20, ``confirm`` writers 21–30 (look at it once the choices
are made). Run from ``benchmarks/``: ``python written_numbers.py [--split confirm]
[--numbers 200] [--markdown table.md]``.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import functools
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knn_digits.app import DigitService, handle_classify
from knn_digits.datasets import PenDigit, read_pen_digits
from knn_digits.models import DEFAULT_PRESET, DigitModel, load_model, to_uint8
from knn_digits.preprocess import normalize_digit, render_strokes
from real_handwriting import DEFAULT_REALDATA, SPLITS

CANVAS = (420, 420)  # the app's canvas (knn_digits.app.CANVAS)
BRUSH_RADIUS = 7  # a 14 px brush
MARGIN = 10  # px kept free at the canvas's edges
GAPS = {"touching": (-0.05, 0.0), "close": (0.0, 0.12), "wide": (0.12, 0.5)}  # × height
MAX_ASPECT = 1.3  # a digit is at most this many times as wide as the number is high


@dataclass
class Number:
    """A number as drawn: its digits, the kind of gap between them, the Sketchpad value, and
    its digits cut by hand (each digit's own strokes, MNIST-like: (n, 28, 28) float32)."""

    text: str
    kind: str
    value: dict[str, Any]
    alone: np.ndarray


def compose(
    digits: Sequence[PenDigit], kind: str, rng: np.random.Generator
) -> tuple[dict[str, Any], np.ndarray]:
    """Pen digits set left to right on the canvas with gaps of ``kind``, as a Sketchpad value;
    and each digit's own ink, normalised as the app would a digit cut perfectly."""
    shapes = []  # per digit: strokes in screen units (y down) with the box's top-left at 0
    for digit in digits:
        strokes = [s * (1, -1) for s in digit.strokes]  # the tablet's y points up
        every = np.concatenate(strokes)
        low, extent = every.min(axis=0), np.ptp(every, axis=0)
        scale = rng.uniform(0.9, 1.1) / max(extent[1], 1e-9)
        scale = min(scale, MAX_ASPECT / max(extent[0], 1e-9))  # of a unit height
        shapes.append([(s - low) * scale for s in strokes])
    widths = np.array([np.concatenate(s)[:, 0].max() for s in shapes])  # × height
    gaps = rng.uniform(*GAPS.get(kind, (0, 0)), size=len(digits) - 1)  # between ink boxes, × height
    ink = 2 * BRUSH_RADIUS
    # Width of the whole number's ink at height h: h * (widths + gaps) + ink * n_digits.
    room = CANVAS[0] - 2 * MARGIN - ink * len(digits)
    height = min(rng.uniform(0.2, 0.45) * CANVAS[1], room / (widths.sum() + gaps.sum()))
    placed, x = [], 0.0
    for shape, width, gap in zip(shapes, widths, [*gaps, 0.0], strict=True):
        jitter = rng.uniform(-0.05, 0.05) * height
        placed += [s * height + (x, jitter) for s in shape]
        x += width * height + ink + gap * height
    every = np.concatenate(placed)
    low, high = every.min(axis=0), every.max(axis=0)
    slack = np.array(CANVAS) - 2 * MARGIN - 2 * BRUSH_RADIUS - (high - low)
    centre = (high - low) / 2 + MARGIN + BRUSH_RADIUS + rng.uniform(0, 1, 2) * slack

    def drawn(strokes: list[np.ndarray]) -> np.ndarray:
        """``strokes`` (some of ``placed``) as a layer, where they are in the whole number."""
        own_low, own_high = np.concatenate(strokes).min(axis=0), np.concatenate(strokes).max(axis=0)
        middle = centre + (own_low + own_high) / 2 - (low + high) / 2
        return render_strokes(
            [s - low for s in strokes],
            canvas=CANVAS,
            size=float((own_high - own_low).max()),  # one pixel a unit, as the whole number
            brush_radius=BRUSH_RADIUS,
            centre=(float(middle[0]), float(middle[1])),
            y_up=False,
        )

    alone = []
    for start, stop in itertools.pairwise(np.cumsum([0, *(len(s) for s in shapes)])):
        ink = drawn(placed[start:stop])[:, :, 3].astype(np.float32) / 255
        alone.append(normalize_digit(ink))
    value = {"background": None, "layers": [drawn(placed)], "composite": None}
    return value, np.stack(alone)


def numbers(
    pen: Sequence[PenDigit], kinds: Sequence[str], count: int, lengths: range, seed: int
) -> list[Number]:
    """``count`` numbers of each kind, each by one writer, of a random length in ``lengths``."""
    rng = np.random.default_rng(seed)
    by_writer = collections.defaultdict(list)
    for digit in pen:
        by_writer[digit.writer].append(digit)
    writers = sorted(by_writer, key=int)
    made = []
    for kind in kinds:
        for _ in range(count):
            own = by_writer[writers[rng.integers(len(writers))]]
            picks = [
                own[i]
                for i in rng.choice(
                    len(own), rng.integers(lengths.start, lengths.stop), replace=False
                )
            ]
            text = "".join(str(d.label) for d in picks)
            made.append(Number(text, kind, *compose(picks, kind, rng)))
    return made


@dataclass
class Tally:
    """Numbers read right, digit counts right, the same with the digits cut by hand, and the
    model's time per number."""

    n: int = 0
    right: int = 0
    counted: int = 0
    by_hand: int = 0  # numbers whose digits, each cut by hand, are all read right
    right_by_hand: int = 0  # ... and that the app read right too
    seconds: dict[int, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    reads: dict[int, list[int]] = field(default_factory=lambda: collections.defaultdict(list))
    confusions: collections.Counter = field(default_factory=collections.Counter)

    def add(self, number: Number, answer: str, by_hand: str, seconds: float, reads: int) -> None:
        self.n += 1
        self.right += answer == number.text
        self.counted += len(answer) == len(number.text)
        self.by_hand += by_hand == number.text
        self.right_by_hand += by_hand == number.text == answer
        self.seconds[len(number.text)].append(seconds)
        self.reads[len(number.text)].append(reads)
        if answer != number.text:
            self.confusions[(number.text, answer)] += 1


def timed(explain: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    """``DigitModel.explain``, adding the seconds each call takes to ``spent[0]`` and the digits
    it reads to ``spent[1]``. Patched on the class, so the copy the scorer reads with (the full
    stage, ``without_cascade()``) is timed too and still reads as itself."""

    @functools.wraps(explain)
    def call(model: DigitModel, images: Any) -> Any:
        start = time.perf_counter()
        try:
            return explain(model, images)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += len(images)

    return call


def answer_of(label: Any) -> str:
    """The number ``handle_classify`` read: the text, or the top class of a single digit."""
    if isinstance(label, dict):
        return max(label, key=label.__getitem__)
    return label or ""


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def table(tallies: dict[str, Tally], preset: str, split: str, seconds: float) -> str:
    lines = [
        f"Preset `{preset}`, split `{split}`, {datetime.date.today().isoformat()}, "
        f"{seconds:.0f} s. Data: UCI pendigits (Alpaydin & Alimoglu), CC BY 4.0.",
        "",
        "| numbers | count | read right | digit count right | cut by hand: read right "
        "| right where cut by hand is | most frequent misreads |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind, tally in tallies.items():
        misreads = ", ".join(f"{t}→{a or '∅'}" for (t, a), _ in tally.confusions.most_common(3))
        name = f"**{kind}**" if kind == "all" else kind
        lines.append(
            f"| {name} | {tally.n:,} | {percent(tally.right, tally.n)} | "
            f"{percent(tally.counted, tally.n)} | {percent(tally.by_hand, tally.n)} | "
            f"{percent(tally.right_by_hand, tally.by_hand)} | {misreads} |"
        )
    every = {**tallies["one digit"].seconds, **tallies["all"].seconds}
    reads = {**tallies["one digit"].reads, **tallies["all"].reads}
    lines += [
        "",
        "| digits | " + " | ".join(str(d) for d in sorted(every)) + " |",
        "| --- |" + " ---: |" * len(every),
        "| model time, median / p95 / max | "
        + " | ".join(
            " / ".join(f"{1000 * np.percentile(every[d], q):.0f}" for q in (50, 95, 100)) + " ms"
            for d in sorted(every)
        )
        + " |",
        "| model reads, mean (max) | "
        + " | ".join(f"{np.mean(reads[d]):.1f} ({max(reads[d])})" for d in sorted(reads))
        + " |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, metavar="DIR")
    parser.add_argument("--split", choices=list(SPLITS), default="tune")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--numbers", type=int, default=200, help="numbers per kind of gap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    if not (args.realdata / "pendigits-orig.tra.gz").is_file():
        parser.error(f"{args.realdata}: no pendigits-orig.tra.gz (give --realdata DIR)")
    wanted = {str(w) for w in SPLITS[args.split][0]}
    pen = [
        d for d in read_pen_digits(args.realdata / "pendigits-orig.tra.gz") if d.writer in wanted
    ]

    start = time.perf_counter()
    model = load_model(args.preset)
    made = numbers(pen, list(GAPS), args.numbers, range(2, 6), args.seed)
    singles = numbers(pen, ["one digit"], args.numbers // 2, range(1, 2), args.seed + 1)
    alone = np.concatenate([number.alone for number in [*made, *singles]])
    # Read as the app does: the drawing vote, the full second stage (knn_digits.scoring).
    reader = model.for_drawings().without_cascade()
    read_alone = iter(reader.explain(to_uint8(alone))[0].argmax(axis=1))
    spent = [0.0, 0]
    DigitModel.explain = timed(DigitModel.explain, spent)  # type: ignore[method-assign]
    service = DigitService(model)
    lengths = [f"{n} digits" for n in range(2, 6)]
    tallies = {kind: Tally() for kind in [*GAPS, *lengths, "all", "one digit"]}
    for number in [*made, *singles]:
        spent[:] = [0.0, 0]
        answer = answer_of(handle_classify(service, number.value)[0])
        by_hand = "".join(str(next(read_alone)) for _ in number.text)
        kinds = [number.kind]
        if number.kind in GAPS:
            kinds += [f"{len(number.text)} digits", "all"]
        for kind in kinds:
            tallies[kind].add(number, answer, by_hand, *spent)
    for kind, tally in tallies.items():
        print(f"{kind:10s} {percent(tally.right, tally.n)}", file=sys.stderr, flush=True)
    text = table(tallies, args.preset, args.split, time.perf_counter() - start)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
