"""The drawing pad's stroke payload: rendering, erasing, undo, and refusing malformed input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from knn_digits.canvas import is_stroke_drawing, parse_drawing, strokes_to_ink
from knn_digits.errors import ImageError


def drawing(*strokes: dict[str, Any], version: int = 1, size: int = 100) -> dict[str, Any]:
    return {"version": version, "width": size, "height": size, "strokes": list(strokes)}


def stroke(*points: float, radius: float = 4, erase: bool = False) -> dict[str, Any]:
    return {"points": list(points), "radius": radius, "erase": erase}


def test_a_stroke_is_a_round_brush_along_its_points() -> None:
    ink = strokes_to_ink(drawing(stroke(50, 20, 50, 80, radius=4)))
    assert ink.shape == (100, 100) and ink.dtype == np.float32
    assert set(np.unique(ink)) == {0.0, 1.0}  # not anti-aliased, like the Sketchpad
    rows, cols = np.nonzero(ink)
    assert rows.min() == pytest.approx(16, abs=1) and rows.max() == pytest.approx(84, abs=1)
    assert cols.min() == pytest.approx(46, abs=1) and cols.max() == pytest.approx(54, abs=1)


def test_a_tap_is_a_dot() -> None:
    ink = strokes_to_ink(drawing(stroke(30, 60, radius=5)))
    rows, cols = np.nonzero(ink)
    assert (rows.mean(), cols.mean()) == pytest.approx((60, 30), abs=0.5)
    assert ink.sum() == pytest.approx(np.pi * 5**2, rel=0.3)


def test_the_eraser_along_the_same_path_takes_all_the_ink_away() -> None:
    seven = stroke(20, 20, 80, 20, 40, 90, radius=5)
    assert strokes_to_ink(drawing(seven)).any()
    rubbed = strokes_to_ink(drawing(seven, {**seven, "erase": True}))
    assert not rubbed.any()


def test_strokes_paint_in_order_so_undo_is_a_shorter_list() -> None:
    first, second = stroke(20, 50, 80, 50), stroke(50, 10, 50, 90)
    both = strokes_to_ink(drawing(first, second))
    undone = strokes_to_ink(drawing(first))
    assert both.sum() > undone.sum()
    np.testing.assert_array_equal(undone, strokes_to_ink(drawing(first, version=7)))
    assert not strokes_to_ink(drawing()).any()  # cleared


def test_the_payload_is_told_from_a_sketchpad_value() -> None:
    assert is_stroke_drawing(drawing())
    assert not is_stroke_drawing({"background": None, "layers": [], "composite": None})
    assert not is_stroke_drawing(None) and not is_stroke_drawing("strokes")
    assert parse_drawing(drawing(stroke(1, 2, 3, 4), version=5)).version == 5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"strokes": []}, "not a drawing"),
        (drawing(stroke(1, 2, 3)), "pairs"),
        (drawing(stroke(1, float("nan"))), "finite"),
        (drawing(stroke(1, 2, radius=0)), "radius"),
        (drawing(stroke(1, 2), size=100_000), "each side"),
        ({**drawing(), "strokes": "no"}, "list"),
        (drawing(*[stroke(1, 2)] * 1001), "too many"),
    ],
)
def test_malformed_payloads_are_refused_with_the_reason(
    payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImageError, match=message):
        strokes_to_ink(payload)
