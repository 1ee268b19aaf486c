"""Digits written with a pen, in the UNIPEN text format: labels and strokes.

UNIPEN (Guyon et al., 1994) is how on-line handwriting collections are kept, pendigits (UCI)
among them. A file is a list of dot-keyword lines and coordinate lines::

    .SEGMENT DIGIT 6-7 ? "4"      a digit made of components 6 and 7, labelled "4"
    .COMMENT 4 12 224             pendigits: label, writer, sample number
    .PEN_DOWN                     a component: one "x y" pair per line (more columns ignored)
     267  333
     ...
    .PEN_UP                       any other keyword ends the component

Components are numbered from 0 in file order, and a ``.SEGMENT`` names the ones it is made of
(``6``, ``6-7``, ``2,4-5``; ``2:10-3:5`` names points 10 of component 2 to 5 of component 3), so
segments may come before or after their strokes. A ``.PEN_UP`` block that holds points is a
component too (pen movement in the air, never drawn); an empty one only ends the pen-down
before it, as in pendigits. Only ``DIGIT`` segments are read; ``.INCLUDE`` is not followed.

Coordinates are kept as recorded: on most tablets, pendigits' included, y points *up*.

>>> import gzip, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "one.pen"
>>> _ = path.write_text('.SEGMENT DIGIT 0 ? "1"\\n.PEN_DOWN\\n 10 90\\n 10 10\\n.PEN_UP\\n')
>>> [(label, [s.tolist() for s in strokes]) for label, strokes in read_unipen(path)]
[(1, [[[10.0, 90.0], [10.0, 10.0]]])]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .idx import _read_bytes

__all__ = ["PenDigit", "read_pen_digits", "read_unipen"]

_SEGMENT = re.compile(r'^\.SEGMENT\s+(\S+)\s+(\S+)(?:\s+(\S+))?\s+"([^"]*)"')
# One delineation part: a component, or a component:point, optionally "-" another.
_PART = re.compile(r"^(\d+)(?::(\d+))?(?:-(\d+)(?::(\d+))?)?$")


class PenDigit(NamedTuple):
    """One digit: its label, its pen-down strokes (each float64 (n_points, 2) of x, y) and,
    when the file says, its writer."""

    label: int
    strokes: list[np.ndarray]
    writer: str | None


@dataclass
class _Segment:
    line: int
    delineation: str
    label: str
    writer: str | None


@dataclass
class _Component:
    pen_down: bool
    points: list[tuple[float, float]] = field(default_factory=list)


def read_unipen(path: str | os.PathLike[str]) -> list[tuple[int, list[np.ndarray]]]:
    """The digits of a UNIPEN file (plain or gzip) as ``(label, strokes)`` pairs, in file order.

    Each stroke is float64 of shape (n_points, 2): x, y as recorded (y up on most tablets).

    Raises:
        DataError: naming the file and line — a coordinate that isn't a number, a label that
            isn't a digit, a segment with no strokes or naming components that don't exist,
            a truncated gzip file, or no digit at all.
    """
    return [(digit.label, digit.strokes) for digit in read_pen_digits(path)]


def read_pen_digits(path: str | os.PathLike[str]) -> list[PenDigit]:
    """Like :func:`read_unipen`, with each digit's writer where the file names one.

    The writer comes from ``.WRITER_ID``, or from pendigits' ``.COMMENT <label> <writer>
    <sample>`` line right after the segment; else it is ``None``.
    """
    path = Path(path)
    text = _read_bytes(path).decode("latin-1")
    components: list[_Component] = []
    segments: list[_Segment] = []
    current: _Component | None = None
    writer: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("."):
            if current is not None:
                current.points.append(_point(line, path, number))
            continue  # text outside a component continues a keyword's argument
        current = None
        keyword, _, argument = line.partition(" ")
        if keyword in (".PEN_DOWN", ".PEN_UP"):
            current = _Component(pen_down=keyword == ".PEN_DOWN")
            components.append(current)
        elif keyword == ".WRITER_ID":
            writer = argument.strip() or None
        elif keyword == ".SEGMENT":
            match = _SEGMENT.match(line)
            if match is None:
                raise DataError(f"{path}:{number}: a .SEGMENT line must end in a quoted label")
            level, delineation, _, label = match.groups()
            if level.upper() == "DIGIT":
                segments.append(_Segment(number, delineation, label, writer))
        elif keyword == ".COMMENT" and segments and segments[-1].writer is None:
            fields = argument.split()
            if len(fields) >= 2 and fields[0] == segments[-1].label and fields[1].isdigit():
                segments[-1].writer = fields[1]
    # An empty .PEN_UP only closes the pen-down before it: it is not a component.
    components = [c for c in components if c.pen_down or c.points]
    if not segments:
        raise DataError(f'{path}: no digits (no .SEGMENT DIGIT ... "label" lines)')
    return [_digit(segment, components, path) for segment in segments]


def _point(line: str, path: Path, number: int) -> tuple[float, float]:
    fields = line.split()
    try:
        x, y = float(fields[0]), float(fields[1])
    except (ValueError, IndexError):
        raise DataError(f"{path}:{number}: expected a point 'x y', got {line!r}") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise DataError(f"{path}:{number}: expected finite coordinates, got {line!r}")
    return x, y


def _digit(segment: _Segment, components: list[_Component], path: Path) -> PenDigit:
    where = f"{path}:{segment.line}"
    if len(segment.label) != 1 or segment.label not in "0123456789":
        raise DataError(f"{where}: the label {segment.label!r} is not a digit 0–9")
    strokes = []
    for part in segment.delineation.split(","):
        match = _PART.match(part)
        if match is None:
            raise DataError(f"{where}: cannot read the component list {segment.delineation!r}")
        first, first_point, last, last_point = match.groups()
        first_index = int(first)
        last_index = first_index if last is None else int(last)
        if last_index >= len(components) or last_index < first_index:
            raise DataError(
                f"{where}: names components {part!r} but the file has {len(components)} "
                "(numbered from 0)"
            )
        for index in range(first_index, last_index + 1):
            component = components[index]
            start = int(first_point) if index == first_index and first_point else 0
            stop = int(last_point) + 1 if index == last_index and last_point else None
            points = component.points[start:stop]
            if component.pen_down and points:
                strokes.append(np.array(points, np.float64))
    if not strokes:
        raise DataError(f"{where}: the digit {segment.label!r} has no pen-down strokes")
    return PenDigit(int(segment.label), strokes, segment.writer)
