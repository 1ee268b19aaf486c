"""How well real people's handwriting is read, through exactly the app's pipeline.

The development set (``../shared/realdata``, not part of the project): digits by 30 writers who
are not in MNIST, from Bogazici University via the UCI Machine Learning Repository, CC BY 4.0 —
"Pen-Based Recognition of Handwritten Digits" (E. Alpaydin, F. Alimoglu, 1998; the original
pen trajectories, 7,494 digits) and "Optical Recognition of Handwritten Digits" (E. Alpaydin,
C. Kaynak, 1998; the original 32×32 scans of forms, 2,880 digits).

Conditions, each read as the running app reads it (``sketch_to_ink`` or ``load_image`` +
``image_to_ink``, then ``DigitService.read_ink``: cut into digits scored by the model, and read;
a drawing read as two digits is wrong, and counted under "cut in two"):

- pen, thin / medium / thick: the trajectories drawn as Sketchpad layers on a 400 px canvas with
  a round brush 8, 20 or 36 px wide, the digit's box 35–80 % of the canvas, placed at random;
- scan 32×32: the optdigits bitmaps uploaded as PNG files, dark ink on white paper;
- scan 16×16: the same shrunk by area averaging (grey edges), like 16×16 collections.

Split: ``--split tune`` is pen writers 1–20 and the scans of ``optdigits-orig.tra``; ``confirm``
is writers 21–30 and ``optdigits-orig.cv``. The scan files carry no writer ids, and both hold
the same 30 writers, so the scan split is by digit, not by writer. ``tune-1`` and ``tune-2``
halve the tune split (writers 1–10 with the even-numbered tune scans, 11–20 with the odd), so
that ``--split tune-2 --writers-as-references tune-1`` (and the other way round) measures what
other writers add without the confirm writers.

Run: ``python benchmarks/real_handwriting.py [--split confirm] [--preset accurate]
[--sheet mistakes.png] [--markdown table.md] [--writers-as-references tune]``; the last adds
the tune writers' pen digits to the model, as ``knn-digits app --references`` would. Tune on
``--split tune``; look at ``confirm`` once a choice is made.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gzip
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from knn_digits.app import DigitService, Reading, handle_classify, handle_classify_image
from knn_digits.datasets import read_pen_digits
from knn_digits.errors import KnnDigitsError
from knn_digits.models import DEFAULT_PRESET, load_model
from knn_digits.preprocess import (
    image_to_ink,
    load_image,
    render_strokes,
    sketch_to_ink,
)

DEFAULT_REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
CANVAS = (400, 400)
BRUSH_WIDTHS = {"thin": 8, "medium": 20, "thick": 36}  # px on the 400 px canvas


class Split(NamedTuple):
    """Pen writers to read, the optdigits file of scans, and which of its scans."""

    writers: range
    scans: str
    scan_rows: slice = slice(None)


SPLITS = {
    "tune": Split(range(1, 21), "optdigits-orig.tra.gz"),
    "confirm": Split(range(21, 31), "optdigits-orig.cv.gz"),
    # The tune writers in two halves, to choose how other writers' digits join the references
    # without reading the confirm writers: one half as references, the other read.
    "tune-1": Split(range(1, 11), "optdigits-orig.tra.gz", slice(0, None, 2)),
    "tune-2": Split(range(11, 21), "optdigits-orig.tra.gz", slice(1, None, 2)),
}


@dataclass
class Sample:
    """What the app is given: a Sketchpad value or an image file, with its true label."""

    label: int
    given: dict | Path
    picture: np.ndarray  # uint8 (h, w), ink dark, for the mistakes sheet
    condition: str


# ------------------------------------------------------------------------------ the data


def read_scans(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """optdigits' original bitmaps: (n, 32, 32) bool (True = ink) and labels (n,)."""
    bitmaps, labels, rows = [], [], []
    for line in gzip.open(path, "rt"):
        text = line.strip()
        if len(text) == 32 and set(text) <= {"0", "1"}:
            rows.append([c == "1" for c in text])
        elif text.isdigit() and len(rows) == 32:
            bitmaps.append(rows)
            labels.append(int(text))
            rows = []
        else:
            rows = []  # the header line, or a broken record
    return np.array(bitmaps, bool), np.array(labels, np.int64)


def pen_samples(
    realdata: Path, writers: Sequence[int], width: int, rng: np.random.Generator, limit: int
) -> list[Sample]:
    """The writers' pen digits drawn with a brush ``width`` px wide, random size and place."""
    wanted = {str(w) for w in writers}
    digits = [d for d in read_pen_digits(realdata / "pendigits-orig.tra.gz") if d.writer in wanted]
    if limit:
        digits = [digits[i] for i in np.sort(rng.permutation(len(digits))[:limit])]
    samples = []
    radius = width / 2
    for digit in digits:
        size = int(rng.uniform(0.35, 0.8) * CANVAS[0])
        every = np.concatenate(digit.strokes)
        extent = np.ptp(every, axis=0)
        half = extent / max(extent.max(), 1e-9) * size / 2 + radius + 1
        centre = (
            rng.uniform(half[0], CANVAS[0] - half[0]),
            rng.uniform(half[1], CANVAS[1] - half[1]),
        )
        layer = render_strokes(
            digit.strokes, canvas=CANVAS, size=size, brush_radius=radius, centre=centre
        )
        value = {"background": None, "layers": [layer], "composite": None}
        picture = 255 - layer[:, :, 3]
        samples.append(Sample(digit.label, value, picture, f"pen, {_brush_name(width)}"))
    return samples


def _brush_name(width: int) -> str:
    name = next(n for n, w in BRUSH_WIDTHS.items() if w == width)
    return f"{name} brush ({width} px)"


def scan_samples(
    realdata: Path, split: Split, side: int, folder: Path, rng: np.random.Generator, limit: int
) -> list[Sample]:
    """The split's optdigits scans as PNG files of ``side`` px, dark ink on white, to upload."""
    bitmaps, labels = read_scans(realdata / split.scans)
    order = np.arange(len(labels))[split.scan_rows]
    if limit:
        order = np.sort(rng.permutation(order)[:limit])
    samples = []
    for i in order:
        paper = np.where(bitmaps[i], 0, 255).astype(np.uint8)
        if side != 32:
            paper = np.asarray(
                Image.fromarray(paper).resize((side, side), Image.Resampling.BOX), np.uint8
            )
        path = folder / f"scan{side}-{i}.png"
        Image.fromarray(paper).save(path)
        samples.append(Sample(int(labels[i]), path, paper, f"scan {side}×{side}"))
    return samples


def write_unipen(realdata: Path, writers: Sequence[int], path: Path) -> Path:
    """The writers' pen digits as a UNIPEN file, what ``--references`` takes."""
    wanted = {str(w) for w in writers}
    written = 0  # pen-down components so far: a segment names its own by number
    with open(path, "w") as out:
        for n, digit in enumerate(read_pen_digits(realdata / "pendigits-orig.tra.gz")):
            if digit.writer not in wanted:
                continue
            last = written + len(digit.strokes) - 1
            out.write(f'.SEGMENT DIGIT {written}-{last} ? "{digit.label}"\n')
            written = last + 1
            out.write(f".COMMENT {digit.label} {digit.writer} {n}\n")
            for stroke in digit.strokes:
                out.write(".PEN_DOWN\n")
                out.writelines(f" {x:g} {y:g}\n" for x, y in stroke)
                out.write(".PEN_UP\n")
    return path


# ------------------------------------------------------------------------------ reading


def ink_of(sample: Sample) -> np.ndarray:
    """The ink map the app takes from what it is given (``/classify`` or ``/classify_image``)."""
    if isinstance(sample.given, Path):
        return image_to_ink(load_image(sample.given))
    return sketch_to_ink(sample.given)


def read_one(service: DigitService, sample: Sample) -> Reading | None:
    """What the app reads from a sample, as ``/classify`` reads it (cut into digits scored by
    the model); None where it finds nothing to read."""
    try:
        return service.read_ink(ink_of(sample))
    except KnnDigitsError:
        return None


def first_digit(reading: Reading) -> np.ndarray:
    """The first 28×28 digit the app saw, float in [0, 1], as the Teach button takes it."""
    return reading.digits[0].astype(np.float32) / 255


def read_all(
    service: DigitService, samples: list[Sample]
) -> tuple[list[str], list[np.ndarray | None]]:
    """What the app answers for each sample (the digits read, left to right), and the first
    28×28 digit it saw (:func:`read_one`, :func:`first_digit`)."""
    readings = [read_one(service, sample) for sample in samples]
    answers = [reading.text if reading else "" for reading in readings]
    return answers, [first_digit(reading) if reading else None for reading in readings]


def app_answer(service: DigitService, sample: Sample) -> str:
    """The answer of the app's own handler, for checking :func:`read_all` against it."""
    handler: Callable[..., tuple] = (
        handle_classify_image if isinstance(sample.given, Path) else handle_classify
    )
    argument = str(sample.given) if isinstance(sample.given, Path) else sample.given
    label = handler(service, argument)[0]
    if isinstance(label, dict):
        return max(label, key=label.__getitem__)
    return label or ""


# ------------------------------------------------------------------------------ reporting


@dataclass
class Result:
    condition: str
    n: int
    right: int
    confusions: collections.Counter
    cut: int = 0  # one digit read as several (segmentation cut it)

    @property
    def accuracy(self) -> float:
        return 100 * self.right / self.n

    @property
    def interval(self) -> float:
        """Half-width of the 95 % normal interval, in points."""
        p = self.right / self.n
        return 196 * np.sqrt(p * (1 - p) / self.n)


def mistakes_sheet(
    mistakes: list[tuple[Sample, str, np.ndarray | None]], path: Path, limit: int = 120
) -> None:
    """A PNG of the mistakes: each drawing or scan beside the 28×28 the model saw."""
    tile, columns = 96, 6
    shown = mistakes[:limit]
    rows = max(1, -(-len(shown) // columns))
    sheet = Image.new("L", (columns * (2 * tile + 8), rows * (tile + 16)), 255)
    draw = ImageDraw.Draw(sheet)
    for n, (sample, answer, seen) in enumerate(shown):
        x, y = (n % columns) * (2 * tile + 8), (n // columns) * (tile + 16)
        picture = Image.fromarray(sample.picture)
        picture.thumbnail((tile, tile), Image.Resampling.BOX)
        sheet.paste(picture, (x, y))
        if seen is not None:
            model_view = Image.fromarray((255 - 255 * seen).astype(np.uint8))
            sheet.paste(model_view.resize((tile, tile), Image.Resampling.NEAREST), (x + tile, y))
        draw.text((x + 2, y + tile + 2), f"{sample.label} read {answer or '-'}", fill=0)
    sheet.save(path)


def table(results: list[Result], preset: str, split: str, seconds: float) -> str:
    total = Result(
        "all",
        sum(r.n for r in results),
        sum(r.right for r in results),
        None,  # type: ignore[arg-type]
        sum(r.cut for r in results),
    )
    lines = [
        f"Preset `{preset}`, split `{split}`, {datetime.date.today().isoformat()}, "
        f"{seconds:.0f} s. Data: UCI pendigits and optdigits (Alpaydin et al.), CC BY 4.0.",
        "",
        "| condition | digits | read right | cut in two | most frequent confusions (true→read) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for result in [*results, total]:
        confusions = (
            ", ".join(f"{t}→{r or '∅'} ×{c}" for (t, r), c in result.confusions.most_common(4))
            if result.confusions is not None
            else ""
        )
        lines.append(
            f"| {result.condition} | {result.n:,} | {result.accuracy:.1f} % "
            f"(±{result.interval:.1f}) | {result.cut} | {confusions} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, metavar="DIR")
    parser.add_argument(
        "--split", choices=[*SPLITS, "all"], default="tune", help="all: tune and confirm"
    )
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument(
        "--references",
        nargs="+",
        default=[],
        type=Path,
        metavar="PATH",
        help="more reference digits for the model, as `knn-digits app --references` takes",
    )
    parser.add_argument(
        "--writers-as-references",
        choices=list(SPLITS),
        help="add that split's pen writers to the references (as a UNIPEN file)",
    )
    parser.add_argument("--limit", type=int, default=0, help="at most N digits per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path, help="write the mistakes as a PNG sheet")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--check", type=int, default=10, help="compare N answers with the app's own handler"
    )
    args = parser.parse_args(argv)
    if not (args.realdata / "pendigits-orig.tra.gz").is_file():
        parser.error(f"{args.realdata}: no pendigits-orig.tra.gz (give --realdata DIR)")
    splits = [SPLITS[s] for s in (("tune", "confirm") if args.split == "all" else [args.split])]
    writers = [w for split in splits for w in split.writers]
    if args.writers_as_references and set(SPLITS[args.writers_as_references].writers) & set(
        writers
    ):
        parser.error("--writers-as-references must not name writers being read")

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    results, mistakes = [], []
    with tempfile.TemporaryDirectory(prefix="real-handwriting-") as folder:
        references = list(args.references)
        if args.writers_as_references:
            extra = SPLITS[args.writers_as_references].writers
            references.append(write_unipen(args.realdata, extra, Path(folder) / "writers.dat"))
        service = DigitService(load_model(args.preset, references=references))
        conditions: list[list[Sample]] = [
            pen_samples(args.realdata, writers, width, rng, args.limit)
            for width in BRUSH_WIDTHS.values()
        ]
        for side in (32, 16):
            conditions.append(
                [
                    s
                    for split in splits
                    for s in scan_samples(args.realdata, split, side, Path(folder), rng, args.limit)
                ]
            )
        for samples in conditions:
            answers, seen = read_all(service, samples)
            for i in rng.permutation(len(samples))[: args.check]:
                own = app_answer(service, samples[i])
                if own != answers[i]:
                    raise SystemExit(f"benchmark and app disagree: {answers[i]!r} vs {own!r}")
            confusions: collections.Counter = collections.Counter()
            for sample, answer, image in zip(samples, answers, seen, strict=True):
                if answer != str(sample.label):
                    confusions[(sample.label, answer)] += 1
                    mistakes.append((sample, answer, image))
            result = Result(
                samples[0].condition,
                len(samples),
                len(samples) - sum(confusions.values()),
                confusions,
                sum(len(answer) > 1 for answer in answers),
            )
            results.append(result)
            print(f"{result.condition:28s} {result.accuracy:6.2f} %", file=sys.stderr, flush=True)
    preset = args.preset
    if args.writers_as_references:
        preset += f" + the {args.writers_as_references} split's writers as references"
    text = table(results, preset, args.split, time.perf_counter() - start)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.sheet:
        mistakes_sheet(mistakes, args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
