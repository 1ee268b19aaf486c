"""Styled references: the added pen stroke is where the style puts it, counts and seeds hold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from knn_digits.models import DigitModel, get_preset, load_model
from knn_digits.personal import PersonalModel
from knn_digits.preprocess import normalize_digit
from knn_digits.preprocess.render import render_strokes
from knn_digits.styles import STYLES, synthesize_styles


def _upright_one() -> np.ndarray:
    """A drawn "1": a vertical bar, through the drawing pipeline like the styled copies."""
    ink = np.zeros((100, 100), np.float32)
    ink[10:90, 48:53] = 1
    return normalize_digit(ink)


def test_a_flagged_one_gains_ink_up_and_to_the_left_of_its_stem() -> None:
    one = _upright_one()
    images = np.stack([one] * 8)
    flagged, labels = synthesize_styles(images, np.ones(8, int), {1: 1.0}, seed=3)
    assert flagged.shape == (8, 28, 28) and flagged.dtype == np.float32
    assert set(labels) == {1}
    assert 0 <= flagged.min() and flagged.max() <= 1

    def left_of_stem(digit: np.ndarray) -> tuple[int, int]:
        """Ink pixels left of the stem in the digit's upper half, and in its lower 40 %."""
        rows, cols = np.nonzero(digit > 0.3)
        left = cols < np.median(cols) - 1.5
        upper = rows < rows.min() + 0.5 * np.ptp(rows)
        lower = rows > rows.min() + 0.6 * np.ptp(rows)
        return int((left & upper).sum()), int((left & lower).sum())

    assert left_of_stem(one) == (0, 0)
    for digit in flagged:
        upper, lower = left_of_stem(digit)
        assert upper >= 2 and lower == 0  # a flag at the top, nothing added below


def test_counts_follow_the_shares_and_the_seed_repeats() -> None:
    one = _upright_one()
    images = np.stack([one] * 10 + [np.zeros((28, 28), np.float32)] * 4)
    labels = np.array([1] * 10 + [3] * 4)
    first, first_labels = synthesize_styles(images, labels, {1: 0.3}, seed=5)
    again, _ = synthesize_styles(images, labels, {1: 0.3}, seed=5)
    assert len(first) == 3 and list(first_labels) == [1, 1, 1]
    np.testing.assert_array_equal(first, again)
    none, none_labels = synthesize_styles(images, labels, {1: 0.0})
    assert none.shape == (0, 28, 28) and none_labels.shape == (0,)


def test_a_style_added_later_leaves_the_earlier_styles_copies_as_they_were(mnist_train) -> None:
    """Copies are drawn in STYLES' order from one stream, so a new style (the narrow 4s, last)
    changes no copy of the others: its measured effect is its own."""
    images, labels = mnist_train[0][:800], mnist_train[1][:800]
    before = {0: 0.3, 1: 0.5, 7: 0.3, 9: 0.4}
    earlier, earlier_labels = synthesize_styles(images, labels, before)
    both, both_labels = synthesize_styles(images, labels, {**before, 4: 0.3})
    assert len(both) > len(earlier) and set(both_labels[len(earlier) :]) == {4}
    np.testing.assert_array_equal(both[: len(earlier)], earlier)
    np.testing.assert_array_equal(both_labels[: len(earlier)], earlier_labels)


def test_a_label_without_a_style_is_refused() -> None:
    missing = next(label for label in range(10) if label not in STYLES)
    with pytest.raises(ValueError, match="no style for label"):
        synthesize_styles(np.zeros((1, 28, 28)), np.array([missing]), {missing: 0.5})


def test_a_styled_preset_adds_its_copies_once_even_through_save_and_load(
    tmp_path, mnist_train
) -> None:
    images, labels = mnist_train[0][:600], mnist_train[1][:600]
    preset = dataclasses.replace(get_preset("raw"), name="styled", styles=((1, 0.5),))
    model = DigitModel(preset).fit(images, labels)
    ones = int((labels == 1).sum())
    assert len(model.train_labels_) == 600 + round(0.5 * ones)
    model.save(tmp_path / "styled.npz")
    loaded = DigitModel.load(tmp_path / "styled.npz")
    assert loaded.preset == preset
    np.testing.assert_array_equal(loaded.train_labels_, model.train_labels_)
    np.testing.assert_array_equal(loaded.predict(images[:50]), model.predict(images[:50]))


def test_the_model_knows_which_references_are_synthesized(tmp_path, mnist_train) -> None:
    images, labels = mnist_train[0][:600], mnist_train[1][:600]
    preset = dataclasses.replace(get_preset("raw"), name="styled", styles=((1, 0.5),))
    model = DigitModel(preset).fit(images, labels)
    model.add(images[:3], labels[:3])  # taught digits come after the styled copies
    everyone = np.arange(len(model.train_labels_))
    expected = (everyone >= 600) & (everyone < len(model.train_labels_) - 3)
    np.testing.assert_array_equal(model.synthesized(everyone), expected)
    assert expected.sum() == round(0.5 * int((labels == 1).sum()))
    model.save(tmp_path / "styled.npz")
    np.testing.assert_array_equal(
        DigitModel.load(tmp_path / "styled.npz").synthesized(everyone[:-3]), expected[:-3]
    )
    mine = PersonalModel(model).add(images[3:5], labels[3:5])
    np.testing.assert_array_equal(
        mine.synthesized(np.arange(len(mine.train_labels_)))[-2:], [False, False]
    )
    assert not DigitModel("raw").fit(images, labels).synthesized(everyone[:600]).any()


def test_a_hooked_nine_gains_a_tail_to_the_left_of_its_foot() -> None:
    nine = np.zeros((100, 100), np.float32)
    yy, xx = np.mgrid[:100, :100]
    ring = np.abs(np.hypot(yy - 30, xx - 50) - 18) < 3  # the loop
    nine[ring] = 1
    nine[30:92, 66:71] = 1  # the stem, straight down
    plain = normalize_digit(nine)
    hooked, _ = synthesize_styles(plain[None], np.array([9]), {9: 1.0}, seed=2)

    def bottom_left_ink(digit: np.ndarray) -> int:
        rows, cols = np.nonzero(digit > 0.3)
        low = rows > rows.min() + 0.75 * np.ptp(rows)
        return int((low & (cols < np.median(cols[low]) - 2)).sum())

    assert bottom_left_ink(plain) == 0
    assert bottom_left_ink(hooked[0]) >= 3


def test_a_nine_without_a_closed_loop_is_not_hooked() -> None:
    """Hooked, it would look like a 1 with a flag and a foot; a loop a pen gap leaves open counts
    as no loop."""
    yy, xx = np.mgrid[:100, :100]
    angle = np.arctan2(yy - 30, xx - 50)
    ring = np.abs(np.hypot(yy - 30, xx - 50) - 18) < 3
    nine = np.zeros((100, 100), np.float32)
    nine[ring & (np.abs(angle - np.pi) > 0.5)] = 1  # the loop, open on the left
    nine[30:92, 66:71] = 1
    open_loop = normalize_digit(nine)
    hooked, labels = synthesize_styles(open_loop[None], np.array([9]), {9: 1.0}, seed=2)
    assert hooked.shape == (0, 28, 28) and labels.shape == (0,)
    nine[ring] = 1  # closed
    closed, _ = synthesize_styles(normalize_digit(nine)[None], np.array([9]), {9: 1.0}, seed=2)
    assert len(closed) == 1


def _ink_run(digit: np.ndarray, share: float) -> tuple[int, int]:
    """The leftmost and rightmost ink columns in the row ``share`` of the way down the ink."""
    rows, _ = np.nonzero(digit > 0.3)
    row = digit[int(round(rows.min() + share * np.ptp(rows)))]
    cols = np.flatnonzero(row > 0.3)
    return int(cols.min()), int(cols.max())


def test_a_crossed_seven_gains_a_bar_across_the_middle_of_its_stem() -> None:
    seven = np.zeros((100, 100), np.float32)
    seven[10:15, 25:80] = 1  # the top bar
    for row in range(15, 92):  # the stem, down to the left
        col = int(78 - 0.35 * (row - 15))
        seven[row, col - 2 : col + 3] = 1
    plain = normalize_digit(seven)
    crossed, labels = synthesize_styles(np.stack([plain] * 6), np.full(6, 7), {7: 1.0}, seed=4)
    assert len(crossed) == 6 and set(labels) == {7}
    stem_left, stem_right = _ink_run(plain, 0.55)
    assert stem_right - stem_left <= 4  # only the stem crosses the middle
    for digit in crossed:
        left, right = _ink_run(digit, 0.55)
        assert right - left >= 7  # a bar, reaching out on both sides of the stem
        assert _ink_run(digit, 0.2)[1] - _ink_run(digit, 0.2)[0] <= 4  # nothing added above


def test_a_slashed_zero_gains_a_stroke_through_its_hole() -> None:
    yy, xx = np.mgrid[:100, :100]
    ring = np.abs(np.hypot((yy - 50) / 40, (xx - 50) / 28) - 1) < 0.08
    plain = normalize_digit(ring.astype(np.float32))
    slashed, _ = synthesize_styles(np.stack([plain] * 6), np.zeros(6, int), {0: 1.0}, seed=1)
    assert len(slashed) == 6

    def ink_in_the_hole(digit: np.ndarray) -> float:
        rows, cols = np.nonzero(digit > 0.3)
        r, c = int(rows.mean()), int(cols.mean())
        return float(digit[r - 2 : r + 3, c - 2 : c + 3].sum())

    assert ink_in_the_hole(plain) == 0
    assert all(ink_in_the_hole(digit) >= 2 for digit in slashed)


def _four(closed: bool = False) -> np.ndarray:
    """A drawn "4", as wide as MNIST's: a left stroke slanting down to the bar, the bar, a right
    stem; ``closed`` starts the left stroke at the stem's top (a triangle)."""
    ink = np.zeros((100, 100), np.float32)
    start = 68 if closed else 55  # the left stroke's top column
    for row in range(10, 62):
        col = int(start + (20 - start) * (row - 10) / 52)
        ink[row, col - 2 : col + 3] = 1
    ink[60:65, 20:85] = 1  # the bar
    ink[10:80, 66:71] = 1  # the right stem
    return normalize_digit(ink)


def _pieces(digit: np.ndarray, share: float) -> int:
    """How many separate runs of ink cross the row ``share`` of the way down the ink."""
    rows, _ = np.nonzero(digit > 0.3)
    ink = digit[int(round(rows.min() + share * np.ptp(rows)))] > 0.3
    return int(np.count_nonzero(np.diff(ink.astype(int)) == 1) + ink[0])


def _aspect(digit: np.ndarray) -> float:
    rows, cols = np.nonzero(digit > 0.3)
    return (np.ptp(cols) + 1) / (np.ptp(rows) + 1)


def test_a_narrow_four_is_narrower_and_its_right_stem_starts_low() -> None:
    plain = _four()
    narrow, labels = synthesize_styles(np.stack([plain] * 6), np.full(6, 4), {4: 1.0}, seed=3)
    assert len(narrow) == 6 and set(labels) == {4}
    assert _pieces(plain, 0.15) == 2 and _aspect(plain) > 0.65
    for digit in narrow:
        assert _pieces(digit, 0.15) == 1  # the left stroke alone at the top
        assert _pieces(digit, 0.5) == 2  # the stem still rises above the bar
        assert 0.3 < _aspect(digit) < 0.6


def test_a_four_with_a_closed_top_is_not_narrowed() -> None:
    """Narrowed, it would look like a 9 or a blob."""
    closed = _four(closed=True)
    made, labels = synthesize_styles(closed[None], np.array([4]), {4: 1.0}, seed=3)
    assert made.shape == (0, 28, 28) and labels.shape == (0,)


@pytest.mark.slow
def test_the_default_preset_reads_pen_drawn_slashed_zeros() -> None:
    """ "Ø" drawn as a pen draws it, at three brush widths: before the slashed references the
    default preset read 59 of 150 such zeros as 0 (most as 8)."""
    rng = np.random.default_rng(7)
    drawings = []
    for width in (8, 20, 36) * 8:
        stretch, lean = rng.uniform(0.55, 0.9), rng.uniform(-0.25, 0.25)
        turn = np.linspace(0, 2 * np.pi + 0.15, 60) + rng.uniform(0, 2 * np.pi)
        ring = np.c_[stretch * np.cos(turn) + lean * np.sin(turn), np.sin(turn)]
        reach = 1 + rng.uniform(0, 0.3)
        slash = np.array([[-stretch - lean, -1.0], [stretch + lean, 1.0]]) * reach
        layer = render_strokes(
            [ring, slash], size=int(rng.uniform(140, 320)), brush_radius=width / 2
        )
        drawings.append(normalize_digit(layer[:, :, 3] / 255.0))
    read = load_model().without_cascade().predict(np.stack(drawings))  # as the app reads
    assert (read == 0).mean() >= 0.9
