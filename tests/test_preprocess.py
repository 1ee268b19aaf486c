"""The drawing pipeline: conventions, invariances (brush, size, position, polarity, light),
bad input, segmentation, and a small accuracy check against a real k-NN."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from knn_digits.datasets import load_mnist
from knn_digits.errors import EmptyImageError, ImageError
from knn_digits.neighbors import KNNClassifier
from knn_digits.preprocess import (
    image_to_ink,
    image_to_mnist,
    load_image,
    normalize_digit,
    render_drawing,
    render_photo,
    render_strokes,
    segment_digits,
    skeletonize,
    sketch_to_ink,
    sketch_to_mnist,
    strokes_to_mnist,
)


@pytest.fixture(scope="module")
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_mnist("test")
    return images[:200], labels[:200]


@pytest.fixture(scope="module")
def digit(test_digits: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return test_digits[0][0]  # a 7


def sketch(layer: np.ndarray) -> dict[str, object]:
    """The value a Sketchpad hands the app for one drawn layer."""
    composite = np.full_like(layer, 255)
    composite[layer[:, :, 3] > 0, :3] = 0
    return {"background": np.full_like(layer, 255), "layers": [layer], "composite": composite}


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two images: 1 for identical shapes."""
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def similarity_up_to_a_pixel(a: np.ndarray, b: np.ndarray) -> float:
    """The best :func:`similarity` over shifts of ``b`` by at most a pixel each way: centring
    by mass rounds to whole pixels, and a one-pixel shift is no change to a k-NN with IDM."""
    return max(
        similarity(a, np.roll(b, (dy, dx), axis=(0, 1))) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


# ------------------------------------------------------------------ the MNIST conventions


def check_mnist_like(image: np.ndarray) -> None:
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(image > 0.05)
    box = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    assert 19 <= box <= 21  # MNIST: the longer side of the box is 20 px
    com = ndimage.center_of_mass(image)
    assert abs(com[0] - 14) <= 0.5 + 1e-6 and abs(com[1] - 14) <= 0.5 + 1e-6


def test_a_drawing_becomes_an_mnist_like_digit(digit: np.ndarray) -> None:
    check_mnist_like(sketch_to_mnist(sketch(render_drawing(digit))))


def test_an_mnist_digit_stays_mnist_like_and_close_to_itself(digit: np.ndarray) -> None:
    result = image_to_mnist(digit)
    check_mnist_like(result)
    assert similarity(result, digit / 255) > 0.8


def test_a_thin_one_stays_thin() -> None:
    canvas = np.zeros((400, 400, 4), np.uint8)
    canvas[60:340, 195:205, 3] = 255
    one = sketch_to_mnist({"layers": [canvas]})
    cols = np.flatnonzero(one.max(axis=0) > 0.05)
    assert len(cols) <= 4  # the bar is not stretched to 20 px wide


# ------------------------------------------------------------------ invariances


@pytest.mark.parametrize(
    ("size", "brush_radius", "centre"),
    [
        (280, 3, None),  # thin pen, large, centred
        (280, 16, None),  # thick marker
        (100, 3, (70, 70)),  # small, in the top-left corner
        (100, 5, (330, 330)),  # small, bottom-right
    ],
)
def test_brush_size_and_position_give_the_same_digit(
    test_digits: tuple[np.ndarray, np.ndarray],
    size: int,
    brush_radius: int,
    centre: tuple[int, int] | None,
) -> None:
    for digit in test_digits[0][:10]:
        reference = sketch_to_mnist(sketch(render_drawing(digit, size=280, brush_radius=8)))
        other = sketch_to_mnist(
            sketch(render_drawing(digit, size=size, brush_radius=brush_radius, centre=centre))
        )
        # Up to a pixel: a thick brush is eroded, not redrawn, and its centre of mass may round
        # to the next pixel.
        assert similarity_up_to_a_pixel(reference, other) > 0.8


def test_brush_invariance_is_not_vacuous(test_digits: tuple[np.ndarray, np.ndarray]) -> None:
    # Different digits must look different by the same measure, or the test above proves nothing.
    images, labels = test_digits
    first, second = images[labels == 7][0], images[labels == 0][0]
    a = sketch_to_mnist(sketch(render_drawing(first)))
    b = sketch_to_mnist(sketch(render_drawing(second)))
    assert similarity(a, b) < 0.6


def test_moving_a_drawing_changes_nothing(digit: np.ndarray) -> None:
    layer = render_drawing(digit, size=150, centre=(100, 100))
    moved = np.roll(layer, (170, 150), axis=(0, 1))
    np.testing.assert_array_equal(
        sketch_to_mnist({"layers": [layer]}), sketch_to_mnist({"layers": [moved]})
    )


def test_stroke_width_is_mnist_like_whatever_the_brush(
    test_digits: tuple[np.ndarray, np.ndarray],
) -> None:
    # Stroke width as 2·area/perimeter after thresholding at 0.5 (DESIGN.md §1).
    def width(image: np.ndarray) -> float:
        ink = image > 0.5
        edge = ink & ~ndimage.binary_erosion(ink)
        return 2 * ink.sum() / edge.sum()

    digits = test_digits[0][:20]
    mnist = np.median([width(d / 255) for d in digits])
    thin, thick = (
        np.median(
            [width(sketch_to_mnist(sketch(render_drawing(d, brush_radius=radius)))) for d in digits]
        )
        for radius in (3, 16)
    )
    # Thin ink is redrawn with MNIST's pen, thick ink eroded towards it: both land within MNIST's
    # own spread (its 10th–90th percentiles are ~80–140 % of the median).
    assert thin == pytest.approx(mnist, rel=0.2)
    assert thick == pytest.approx(mnist, rel=0.2)


def test_a_loop_the_brush_filled_does_not_thin_the_rest_to_a_hairline() -> None:
    # A thick-brush 9 whose loop is filled: a disc on a stroke 36 px wide. The disc adds area but
    # hardly any skeleton; eroding by the mean width (area / skeleton length) left the tail a
    # one-pixel thread, invisible at 28 × 28.
    canvas = np.zeros((400, 400), np.float32)
    rows, cols = np.mgrid[:400, :400]
    canvas[(rows - 110) ** 2 + (cols - 200) ** 2 <= 60**2] = 1  # the filled loop
    canvas[110:370, 222:258] = 1  # the tail, 36 px wide
    nine = normalize_digit(canvas)
    tail = nine[17:24]  # rows well below the loop
    widths = (tail > 0.5).sum(axis=1)
    assert np.median(widths) >= 2  # MNIST's strokes are ~2.2 px wide


def test_ink_colour_and_transparency_do_not_matter(digit: np.ndarray) -> None:
    layer = render_drawing(digit)
    reference = sketch_to_mnist({"layers": [layer]})
    red = layer.copy()
    red[:, :, 0] = np.where(layer[:, :, 3] > 0, 200, 0)
    np.testing.assert_array_equal(sketch_to_mnist({"layers": [red]}), reference)
    # gradio_client sends only a composite: black ink on opaque white.
    only_composite = {"background": None, "layers": [], "composite": sketch(layer)["composite"]}
    assert similarity(sketch_to_mnist(only_composite), reference) > 0.95
    # A transparent PNG with black strokes (Gradio #8198: transparent and black both become 0
    # if converted to grey naively).
    assert similarity(image_to_mnist(Image.fromarray(layer, "RGBA")), reference) > 0.95


def test_dark_on_light_and_light_on_dark_agree(digit: np.ndarray) -> None:
    light_ink = image_to_mnist(digit)
    dark_ink = image_to_mnist(255 - digit)
    np.testing.assert_allclose(light_ink, dark_ink, atol=1e-6)


def test_uneven_light_and_noise_give_the_same_digit(digit: np.ndarray) -> None:
    even = image_to_mnist(render_photo(digit))
    uneven = image_to_mnist(render_photo(digit, shading=0.6, noise=8, seed=3))
    # Up to a pixel: shading thins the ink a little, which can move its centre of mass a pixel.
    assert similarity_up_to_a_pixel(even, uneven) > 0.85
    assert similarity(even, image_to_mnist(digit)) > 0.8


def test_large_photos_are_shrunk_first(digit: np.ndarray) -> None:
    photo = render_photo(digit, photo=(4000, 3000), size=2000)
    start = time.perf_counter()
    result = image_to_mnist(photo)
    assert time.perf_counter() - start < 5
    assert similarity(result, image_to_mnist(render_photo(digit))) > 0.85


def test_specks_of_dirt_are_dropped(digit: np.ndarray) -> None:
    photo = render_photo(digit)
    clean = image_to_mnist(photo)
    dirty = photo.copy()
    dirty[30:33, 30:33] = 40  # a dark speck far from the digit
    np.testing.assert_array_equal(image_to_mnist(dirty), clean)


# ------------------------------------------------------------------ nothing to read


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"background": None, "layers": [], "composite": None},
        {
            "background": None,
            "layers": [np.zeros((50, 50, 4), np.uint8)],
            "composite": np.full((50, 50, 4), 255, np.uint8),
        },
    ],
)
def test_an_empty_canvas_says_so(value: dict[str, object] | None) -> None:
    with pytest.raises(EmptyImageError, match="draw a digit"):
        sketch_to_mnist(value)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((100, 100), np.uint8),  # all black
        np.full((100, 100, 3), 255, np.uint8),  # all white
        np.random.default_rng(0).normal(200, 3, (300, 300)).clip(0, 255).astype(np.uint8),
        np.linspace(0, 255, 300 * 300).reshape(300, 300).astype(np.uint8),  # a smooth gradient
    ],
    ids=["black", "white", "noise", "gradient"],
)
def test_a_blank_photo_says_so(image: np.ndarray) -> None:
    with pytest.raises(EmptyImageError, match="No digit found"):
        image_to_mnist(image)


def test_an_absurdly_large_array_is_refused_before_any_work() -> None:
    huge = np.broadcast_to(np.uint8(255), (8000, 8000))  # no memory behind it
    with pytest.raises(ImageError, match="8000×8000 pixels is too large"):
        image_to_mnist(huge)


@pytest.mark.parametrize("shape", [(28,), (28, 28, 2), (0, 28), (2, 28, 28, 3)])
def test_arrays_that_are_not_images_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError):
        image_to_mnist(np.ones(shape, np.uint8))


def test_nan_is_refused() -> None:
    image = np.zeros((28, 28))
    image[3, 3] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        image_to_mnist(image)


# ------------------------------------------------------------------ files


def test_load_image_turns_phone_photos_upright(tmp_path: Path, digit: np.ndarray) -> None:
    upright = render_photo(digit)
    path = tmp_path / "photo.jpg"
    sideways = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = sideways.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as phones write it
    sideways.save(path, exif=exif, quality=90)
    loaded = load_image(path)
    assert loaded.size == (640, 480)
    assert similarity(image_to_mnist(loaded), image_to_mnist(upright)) > 0.9


def test_load_image_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        load_image(path)


def test_load_image_refuses_a_truncated_file(tmp_path: Path, digit: np.ndarray) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(render_photo(digit)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageError, match=r"cut\.png"):
        load_image(path)


def test_load_image_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")


def test_load_image_refuses_8000_by_8000_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 8000), 1).save(path)  # 1 bit per pixel: small and quick to write
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        load_image(path)
    assert time.perf_counter() - start < 1


def test_load_image_decodes_big_jpegs_at_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), "white").save(path, quality=50)
    loaded = load_image(path)
    assert 1024 <= max(loaded.size) < 6000


# ------------------------------------------------------------------ the skeleton


def test_skeleton_is_thin_and_keeps_topology() -> None:
    yy, xx = np.mgrid[0:60, 0:60]
    ring = (np.hypot(yy - 30, xx - 30) < 20) & (np.hypot(yy - 30, xx - 30) > 12)
    skeleton = skeletonize(ring)
    assert skeleton.sum() < ring.sum() / 4
    assert not (skeleton & ~ring).any()
    # No 2×2 block survives, and the ring stays one piece around one hole.
    blocks = skeleton[:-1, :-1] & skeleton[1:, :-1] & skeleton[:-1, 1:] & skeleton[1:, 1:]
    assert not blocks.any()
    assert ndimage.label(skeleton, np.ones((3, 3)))[1] == 1
    assert ndimage.label(~skeleton)[1] == 2


def test_a_single_dot_is_still_a_digit_not_a_crash() -> None:
    dot = np.zeros((50, 50), np.float32)
    dot[20:22, 20:22] = 1
    assert normalize_digit(dot).max() == pytest.approx(1.0)


# ------------------------------------------------------------------ several digits


def draw_number(digits: list[np.ndarray]) -> np.ndarray:
    """Digits written side by side on one wide canvas, as a single Sketchpad layer."""
    layers = [render_drawing(d, canvas=(200, 300), size=160, brush_radius=6) for d in digits]
    return np.concatenate(layers, axis=1)


def test_a_number_is_read_left_to_right(test_digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = test_digits
    picks = [images[labels == d][0] for d in (2, 0, 2, 6)]
    parts = segment_digits(sketch_to_ink({"layers": [draw_number(picks)]}))
    assert len(parts) == 4
    for part, pick in zip(parts, picks, strict=True):
        alone = sketch_to_mnist(
            {"layers": [render_drawing(pick, canvas=(200, 300), size=160, brush_radius=6)]}
        )
        np.testing.assert_allclose(part, alone, atol=1e-6)


def test_pieces_of_one_digit_stay_together() -> None:
    # A 5 written in two strokes (the bar does not touch the body) and a speck by the side.
    ink = np.zeros((200, 300), np.float32)
    ink[40:48, 60:120] = 1  # the bar
    ink[52:160, 58:66] = 1  # the body's stem ...
    ink[100:108, 58:118] = 1
    ink[100:160, 112:120] = 1
    ink[152:160, 58:118] = 1
    ink[60:63, 130:133] = 1  # a speck next to it
    ink[40:160, 200:208] = 1  # then a 1
    parts = segment_digits(ink)
    assert len(parts) == 2
    assert (parts[1] > 0.05).any(axis=0).sum() <= 4  # the second is the thin 1


def test_segmenting_an_empty_canvas_says_so() -> None:
    with pytest.raises(EmptyImageError):
        segment_digits(np.zeros((10, 10)))


# ------------------------------------------------------------------ it reads real digits


def test_drawings_are_classified_like_the_digits_they_came_from(
    test_digits: tuple[np.ndarray, np.ndarray],
) -> None:
    train_images, train_labels = load_mnist("train")
    knn = KNNClassifier(3).fit(train_images[:20000].reshape(-1, 784) / 255, train_labels[:20000])
    images, labels = test_digits[0][:60], test_digits[1][:60]
    for radius in (3, 16):
        drawn = np.array(
            [sketch_to_mnist({"layers": [render_drawing(d, brush_radius=radius)]}) for d in images]
        )
        assert knn.score(drawn.reshape(-1, 784), labels) >= 0.9


def test_sixteen_bit_scans_are_scaled_not_clipped(digit: np.ndarray) -> None:
    scan = Image.fromarray((255 - digit).astype(np.uint16) * 257)  # 16-bit grey, dark ink
    assert scan.mode.startswith("I")
    np.testing.assert_allclose(image_to_mnist(scan), image_to_mnist(255 - digit), atol=1e-6)


@pytest.mark.parametrize("side", [16, 32])
def test_small_scans_with_bold_strokes_filling_the_frame(
    test_digits: tuple[np.ndarray, np.ndarray], side: int
) -> None:
    # Forms scanned to 16×16 or 32×32: the digit fills the box and its strokes are bold (a third
    # of the pixels are ink, as in optdigits' scans), so they hold much of any window of the
    # image; the paper must still be found, and the strokes kept whole.
    for image in test_digits[0][:20]:
        crop = image[np.ix_(image.any(axis=1), image.any(axis=0))]
        bold = ndimage.grey_dilation(
            np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.BILINEAR)),
            size=(side // 16, side // 16),
        )
        strokes = bold > 127
        scan = np.where(strokes, 0, 255).astype(np.uint8)  # dark ink on white paper
        ink = image_to_ink(scan) > 0
        assert (ink == strokes).mean() > 0.97  # not inverted, not hollowed
        np.testing.assert_allclose(image_to_mnist(scan), image_to_mnist(255 - scan), atol=1e-6)


# ------------------------------------------------------------------ pen strokes (UNIPEN)

# A "4" in two strokes and a "7" with a bar, in tablet units with y pointing up.
FOUR = [np.array([[40, 300], [0, 120], [160, 120]]), np.array([[110, 260], [110, 0]])]
SEVEN = [np.array([[0, 300], [150, 300], [60, 0]]), np.array([[40, 150], [140, 150]])]


@pytest.mark.parametrize(
    ("brush_radius", "size", "centre"),
    [
        (2, 280, None),  # a fine pen
        (4, 140, (90, 300)),  # small, bottom-left
        (10, 140, (300, 90)),  # a marker on a small digit, top-right
        (10, 320, (200, 210)),
        (18, 320, None),  # the thick brush (36 px) on a large digit
    ],
)
def test_strokes_give_the_same_digit_at_any_brush_size_and_place(
    brush_radius: float, size: int, centre: tuple[int, int] | None
) -> None:
    for strokes in (FOUR, SEVEN):
        reference = strokes_to_mnist(strokes)
        check_mnist_like(reference)
        layer = render_strokes(strokes, size=size, brush_radius=brush_radius, centre=centre)
        drawn = sketch_to_mnist(sketch(layer))
        assert similarity_up_to_a_pixel(reference, drawn) > 0.9
    # ... and different digits stay different by the same measure.
    assert similarity_up_to_a_pixel(strokes_to_mnist(FOUR), strokes_to_mnist(SEVEN)) < 0.6


def holes(image: np.ndarray) -> int:
    """How many enclosed pockets of background (the loops) a 28×28 digit has at half ink."""
    _, count = ndimage.label(np.pad(image < 0.5, 1, constant_values=True))
    return count - 1


_LOOP = np.linspace(0, 2 * np.pi, 40)
NINE = [  # a round head, then the tail straight down from its right side
    np.stack([100 + 40 * np.cos(_LOOP), 260 + 40 * np.sin(_LOOP)], axis=1),
    np.array([[140, 260], [140, 0]]),
]


def test_a_loop_the_thick_brush_filled_is_carved_out_again() -> None:
    # The 36 px brush on a small 9 fills its head: no hole is left in the ink to erode open, and
    # the thick path made a dot on a stroke (read 3, 7 or 1). The medium brush keeps the hole.
    thick = render_strokes(NINE, size=120, brush_radius=18)[:, :, 3].astype(np.float32) / 255
    assert holes(thick) == 0  # the brush really filled it
    medium = render_strokes(NINE, size=120, brush_radius=10)[:, :, 3].astype(np.float32) / 255
    assert holes(normalize_digit(medium)) == 1
    assert holes(normalize_digit(thick)) == 1


@pytest.mark.parametrize("flag_start", [(0, 200), (0, 180), (10, 210)])
def test_a_filled_corner_is_not_carved_into_a_loop(flag_start: tuple[int, int]) -> None:
    # A flagged 1's sharp corner is as deep as a filled loop under a thick brush, but the
    # skeleton passes through it; carving it made the 1 a 4 or a 9.
    one = [np.array([flag_start, [110, 300], [110, 0]])]
    for size in (90, 100, 110):
        ink = render_strokes(one, size=size, brush_radius=18)[:, :, 3].astype(np.float32) / 255
        assert holes(normalize_digit(ink)) == 0


def test_strokes_are_drawn_where_and_as_large_as_asked() -> None:
    layer = render_strokes(SEVEN, canvas=(400, 300), size=200, brush_radius=5, centre=(150, 140))
    assert layer.shape == (300, 400, 4) and layer.dtype == np.uint8
    assert set(np.unique(layer[:, :, 3])) == {0, 255}  # not anti-aliased, as the Sketchpad
    rows, cols = np.nonzero(layer[:, :, 3])
    assert rows.max() - rows.min() == pytest.approx(200 + 2 * 5, abs=2)  # the 7 is taller
    assert (rows.min() + rows.max()) / 2 == pytest.approx(140, abs=1.5)
    assert (cols.min() + cols.max()) / 2 == pytest.approx(150, abs=1.5)
    with pytest.raises(ValueError, match="do not fit"):
        render_strokes(SEVEN, size=300, centre=(50, 50))


def test_y_up_strokes_are_flipped_for_the_screen() -> None:
    # The 7's bar is at the largest y in tablet units: on screen it must be at the top.
    ink = render_strokes(SEVEN, brush_radius=3)[:, :, 3] > 0
    top_row = np.flatnonzero(ink.any(axis=1))[0]
    assert ink[top_row + 3].sum() > 100  # the bar: a long horizontal run
    flipped = render_strokes(SEVEN, brush_radius=3, y_up=False)[:, :, 3] > 0
    crop = ink[np.ix_(ink.any(axis=1), ink.any(axis=0))]
    flipped_crop = flipped[np.ix_(flipped.any(axis=1), flipped.any(axis=0))]
    np.testing.assert_array_equal(flipped_crop, crop[::-1])
