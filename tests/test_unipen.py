"""The UNIPEN reader: pendigits' layout and UNIPEN's own, and damaged files named by line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from knn_digits.datasets import read_pen_digits, read_unipen
from knn_digits.errors import DataError

# pendigits' layout: each segment is followed by its strokes, the writer in a .COMMENT.
PENDIGITS = """.INCLUDE        dene.doc

.LEXICON "0" "1" "2" "3" "4" "5" "6" "7" "8" "9"
.HIERARCHY      DIGIT

.SEGMENT DIGIT    0 ? "1"
.COMMENT 1 12  224
.PEN_DOWN
 100  400
 100  100
.PEN_UP
.DT 100

.SEGMENT DIGIT    1-2 ? "4"
.COMMENT 4 3  7
.PEN_DOWN
 50  400
 20  200
 120  200
.PEN_UP
.DT 100
.PEN_DOWN
 90  300
 90  100
.PEN_UP
"""

# UNIPEN's own layout: strokes first (pen-up moves recorded too), segments after, by range.
UNIPEN = """.VERSION 1.0
.COORD X Y
.WRITER_ID abc
.PEN_DOWN
 0 0
 10 0
.PEN_UP
 10 0
 0 -10
.PEN_DOWN
 0 -10
 10 -10 5
 10 -20
.PEN_UP
.SEGMENT DIGIT 0:1-2:1 OK "7"
.SEGMENT WORD 0-2 OK "seven"
"""


def write(tmp_path: Path, text: str, name: str = "digits.pen", gz: bool = False) -> Path:
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_pendigits_layout(tmp_path: Path, gz: bool) -> None:
    digits = read_pen_digits(write(tmp_path, PENDIGITS, gz=gz))
    assert [(d.label, d.writer, len(d.strokes)) for d in digits] == [(1, "12", 1), (4, "3", 2)]
    np.testing.assert_array_equal(digits[0].strokes[0], [[100, 400], [100, 100]])
    assert digits[1].strokes[0].dtype == np.float64 and digits[1].strokes[0].shape == (3, 2)
    pairs = read_unipen(write(tmp_path, PENDIGITS, gz=gz))
    assert [label for label, _ in pairs] == [1, 4]
    assert all(np.array_equal(a, b) for a, b in zip(pairs[1][1], digits[1].strokes, strict=True))


def test_unipen_layout_points_ranges_and_pen_up_components(tmp_path: Path) -> None:
    # Components: 0 pen-down, 1 pen-up with points (a move in the air), 2 pen-down.
    # "0:1-2:1" is point 1 of component 0 up to point 1 of component 2; the air move is skipped.
    (digit,) = read_pen_digits(write(tmp_path, UNIPEN))
    assert digit.label == 7 and digit.writer == "abc"
    assert [s.tolist() for s in digit.strokes] == [[[10, 0]], [[0, -10], [10, -10]]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PENDIGITS.replace(" 120  200", " 120  2O0"), "digits.pen:19: expected a point"),
        (PENDIGITS.replace(' ? "4"', ' ? "A"'), "digits.pen:14: the label 'A' is not a digit"),
        (PENDIGITS.replace(' ? "4"', ' ? "42"'), "digits.pen:14: the label '42' is not a digit"),
        (PENDIGITS.replace("1-2 ?", "1-5 ?"), "digits.pen:14: names components '1-5'"),
        (PENDIGITS.replace("1-2 ?", "1-x ?"), "digits.pen:14: cannot read the component list"),
        (PENDIGITS.replace(' ? "1"', " ? 1"), "digits.pen:6: a .SEGMENT line must end in"),
        (
            '.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n.PEN_UP\n',
            "digits.pen:1: the digit '3' has no pen-down strokes",
        ),
        (".PEN_DOWN\n 1 2\n.PEN_UP\n", "digits.pen: no digits"),
        ("", "digits.pen: no digits"),
        (PENDIGITS.replace(" 100  100", " 100  inf"), "digits.pen:10: expected finite"),
    ],
)
def test_damaged_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        read_unipen(write(tmp_path, text))


def test_truncated_gzip_and_missing_file(tmp_path: Path) -> None:
    whole = gzip.compress(PENDIGITS.encode())
    path = tmp_path / "cut.pen.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cut.pen.gz: corrupt or truncated gzip"):
        read_unipen(path)
    with pytest.raises(DataError, match="nothing.pen: file not found"):
        read_unipen(tmp_path / "nothing.pen")
