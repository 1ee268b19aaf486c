"""How well real-looking drawings and photos are read: accuracy per drawing condition.

MNIST test digits are turned into what a person would give the app — Sketchpad drawings (the
digit's pen path redrawn with a round brush of several widths, at several sizes and places on
a 400×400 canvas) and photos of dark ink on paper (even or uneven light, sensor noise, JPEG) —
then read back through the app's pipeline (``knn_digits.preprocess``) and a preset. The first
row is the preset on the MNIST images themselves, without the pipeline: the ceiling.

The drawings are made from the digit's skeleton, which is also what the pipeline extracts, so
they test the rest of the pipeline (cropping, scaling, the pen redraw, centring) and the
brush's effects (a thick brush on a small digit fills its loops) rather than the skeleton. The
photos do not use the skeleton at all.

Run: ``python benchmarks/drawing_conditions.py [--n 1000] [--preset NAME] [--markdown PATH]``.
It takes a few minutes per 1,000 digits on two cores: rendering dominates.
"""

from __future__ import annotations

import argparse
import datetime
import io
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from knn_digits.datasets import load_mnist
from knn_digits.models import DEFAULT_PRESET, load_model
from knn_digits.preprocess import (
    image_to_mnist,
    render_drawing,
    render_photo,
    sketch_to_mnist,
)

CANVAS = (400, 400)


@dataclass(frozen=True)
class Condition:
    name: str
    make: Callable[[np.ndarray], object]  # MNIST digit -> what the app is given
    read: Callable[[object], np.ndarray]  # ... -> the 28×28 the model sees


def drawing(size: int, brush_radius: int, centre: tuple[int, int] | None = None) -> Condition:
    place = "centred" if centre is None else f"centre at {centre}"
    return Condition(
        f"drawing: brush radius {brush_radius} px, digit {size} px, {place}",
        lambda d: {
            "background": None,
            "composite": None,
            "layers": [
                render_drawing(
                    d, canvas=CANVAS, size=size, brush_radius=brush_radius, centre=centre
                )
            ],
        },
        sketch_to_mnist,  # type: ignore[arg-type]
    )


def jpeg(pixels: np.ndarray, quality: int = 85) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


def photo(name: str, **options: object) -> Condition:
    return Condition(
        f"photo: {name}",
        lambda d: jpeg(render_photo(d, **options)),  # type: ignore[arg-type]
        image_to_mnist,  # type: ignore[arg-type]
    )


CONDITIONS = [
    Condition("MNIST image, uploaded (through the pipeline)", lambda d: d, image_to_mnist),  # type: ignore[arg-type]
    drawing(280, 3),
    drawing(280, 8),
    drawing(280, 16),
    drawing(100, 3, (70, 70)),
    drawing(100, 6, (330, 330)),
    drawing(100, 10, (70, 330)),
    photo("even light, 640×480, digit 300 px"),
    photo("uneven light and a shadow, noise σ=8", shading=0.6, noise=8.0),
    photo("small digit (200 px) in a 2000×1500 photo", photo=(2000, 1500), size=200),
]


@dataclass(frozen=True)
class Row:
    name: str
    accuracy: float  # % of the digits read right
    agreement: float  # % read the same as the MNIST image itself (the "same answer" goal)
    milliseconds: float  # the pipeline's time per image (drawing or photo → 28×28)


def run(n: int, preset: str) -> tuple[list[Row], dict[str, float]]:
    """One row per condition, plus the model's own timings."""
    images, labels = load_mnist("test")
    images, labels = images[:n], labels[:n].astype(np.int64)
    model = load_model(preset)
    start = time.perf_counter()
    reference = model.predict(images)
    info = {"predict_ms_batch": (time.perf_counter() - start) / n * 1000}
    start = time.perf_counter()
    for image in images[:20]:
        model.predict(image)
    info["predict_ms_single"] = (time.perf_counter() - start) / 20 * 1000
    rows = [
        Row(
            "MNIST image as is (no pipeline): the ceiling",
            100 * float(np.mean(reference == labels)),
            100.0,
            0.0,
        )
    ]
    for condition in CONDITIONS:
        seen, seconds = [], 0.0
        for image in images:
            given = condition.make(image)
            start = time.perf_counter()
            seen.append(condition.read(given))
            seconds += time.perf_counter() - start
        answers = model.for_drawings().predict(np.stack(seen))  # as the app votes on them
        rows.append(
            Row(
                condition.name,
                100 * float(np.mean(answers == labels)),
                100 * float(np.mean(answers == reference)),
                seconds / n * 1000,
            )
        )
        print(
            f"{rows[-1].name:64s} {rows[-1].accuracy:6.2f} % {rows[-1].agreement:6.2f} % "
            f"{rows[-1].milliseconds:6.1f} ms",
            file=sys.stderr,
            flush=True,
        )
    return rows, info


def table(rows: list[Row], n: int, preset: str, info: dict[str, float]) -> str:
    lines = [
        "| condition | accuracy | same answer as the MNIST image | pipeline ms/image |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {row.name} | {row.accuracy:.1f} % | {row.agreement:.1f} % | "
            f"{f'{row.milliseconds:.1f}' if row.milliseconds else '–'} |"
            for row in rows
        ),
    ]
    worst = min(rows[1:], key=lambda row: row.accuracy)
    return "\n".join(
        [
            f"Preset `{preset}`, the first {n} MNIST test digits, "
            f"{datetime.date.today().isoformat()}, Python {platform.python_version()}, "
            f"{platform.machine()}. Model: one query {info['predict_ms_single']:.0f} ms, "
            f"{info['predict_ms_batch']:.1f} ms per digit in a batch.",
            "",
            *lines,
            "",
            f"Weakest condition: {worst.name} ({worst.accuracy:.1f} %).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="MNIST test digits (default 1000)")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    rows, info = run(args.n, args.preset)
    text = table(rows, args.n, args.preset, info)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
