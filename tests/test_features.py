"""Feature transforms against independent computations (scipy, numpy SVD) and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from knn_digits.features import PCA, as_float_images, augment, blur, deskew, warp_affine


def slanted_bar(slope: float, *, col_at_top: float = 18.0) -> np.ndarray:
    """A 2-px-wide bar from row 5 to row 22 whose column drifts by ``slope`` px per row."""
    img = np.zeros((28, 28), np.float32)
    for r in range(5, 23):
        c = col_at_top + slope * (r - 5)
        c0 = int(np.floor(c))
        img[r, c0 : c0 + 2] = 1.0
    return img


def slope_of_ink(img: np.ndarray) -> float:
    """Least-squares slope (columns per row) of the inked rows' mean columns."""
    rows = np.nonzero(img.sum(axis=1) > 0.5)[0]
    cols = np.arange(img.shape[1])
    centres = [(img[r] * cols).sum() / img[r].sum() for r in rows]
    return float(np.polyfit(rows, centres, 1)[0])


@pytest.mark.parametrize("slope", [-0.5, -0.25, 0.3])
def test_deskew_makes_a_slanted_bar_upright(slope: float) -> None:
    bar = slanted_bar(slope)
    assert slope_of_ink(bar) == pytest.approx(slope, abs=0.05)  # it really is slanted
    upright = deskew(bar)[0]
    assert abs(slope_of_ink(upright)) < 0.03
    # centred by mass at (14, 14) as MNIST is
    r, c = np.mgrid[:28, :28]
    m = upright.sum()
    assert abs((r * upright).sum() / m - 14) < 0.05
    assert abs((c * upright).sum() / m - 14) < 0.05


def test_deskew_matches_scipy_affine_transform_image_by_image() -> None:
    rng = np.random.default_rng(0)
    images = (rng.random((5, 28, 28)) * (rng.random((5, 28, 28)) > 0.8)).astype(np.float32)
    images[:, :4] = images[:, -4:] = 0  # keep ink off the border, like MNIST
    expected = []
    for img in images:
        r, c = np.mgrid[:28, :28]
        m = img.sum()
        mr, mc = (r * img).sum() / m, (c * img).sum() / m
        alpha = ((r - mr) * (c - mc) * img).sum() / ((r - mr) ** 2 * img).sum()
        matrix = np.array([[1.0, 0.0], [alpha, 1.0]])
        offset = np.array([mr, mc]) - matrix @ np.array([14.0, 14.0])
        out = ndimage.affine_transform(img, matrix, offset=offset, order=1, mode="grid-constant")
        expected.append(np.clip(out, 0, 1))
    np.testing.assert_allclose(deskew(images), np.stack(expected), atol=1e-5)


def test_deskew_accepts_uint8_and_leaves_blank_images_blank() -> None:
    bar = (slanted_bar(0.3) * 255).astype(np.uint8)
    np.testing.assert_allclose(deskew(bar), deskew(bar / 255.0), atol=1e-6)
    assert deskew(bar).dtype == np.float32
    assert not deskew(np.zeros((2, 28, 28), np.uint8)).any()


@pytest.mark.parametrize("sigma", [0.5, 0.75, 1.0, 2.0])
def test_blur_equals_scipys_gaussian_filter_per_image(sigma: float) -> None:
    from scipy import ndimage

    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    expected = [ndimage.gaussian_filter(im, sigma, mode="constant", truncate=3.0) for im in images]
    np.testing.assert_allclose(blur(images, sigma), expected, atol=1e-6)


def test_blur_never_mixes_images_of_a_stack() -> None:
    stack = np.zeros((3, 28, 28), np.float32)
    stack[1, 14, 14] = 1.0
    out = blur(stack, 1.0)
    assert not out[0].any() and not out[2].any()
    np.testing.assert_allclose(out[1], blur(stack[1], 1.0)[0])
    assert out[1].sum() == pytest.approx(1.0, abs=1e-3)  # a blur keeps the ink
    np.testing.assert_array_equal(blur(stack, 0.0), stack)


def test_augment_shift_and_quarter_turn_are_exact() -> None:
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10, 12] = 1.0
    shifted, turned = augment(img, shifts=[(2, -3)], angles=[90.0])
    assert shifted[12, 9] == pytest.approx(1.0) and shifted.sum() == pytest.approx(1.0)
    # Counter-clockwise by 90° about (14, 14): (row, col) = (10, 12) goes to (16, 10).
    assert turned[16, 10] == pytest.approx(1.0, abs=1e-5)
    assert augment(img).shape == (0, 28, 28)


def test_augment_shear_and_scale_move_a_pixel_where_promised() -> None:
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10, 12] = 1.0  # 4 rows above the centre, 2 columns left of it
    sheared, zoomed = augment(img, shears=[0.5], scales=[1.5])
    assert sheared[10, 14] == pytest.approx(1.0)  # moved right by 0.5 · (14 − 10)
    assert zoomed[8, 11] == pytest.approx(1.0)  # offsets (−4, −2) grew to (−6, −3)


def test_pca_matches_numpy_svd() -> None:
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(300, 20)) * np.linspace(3, 0.1, 20)).astype(np.float32)
    X = X @ np.linalg.qr(rng.normal(size=(20, 20)))[0].astype(np.float32) + 5.0
    pca = PCA(6).fit(X)
    centred = X.astype(np.float64) - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance_, s[:6] ** 2 / (len(X) - 1), rtol=1e-4)
    # Same directions up to sign.
    np.testing.assert_allclose(np.abs(pca.components_ @ vt[:6].T), np.eye(6), atol=1e-4)
    np.testing.assert_allclose(
        np.abs(pca.transform(X)), np.abs(centred @ vt[:6].T), rtol=1e-3, atol=1e-3
    )
    assert pca.transform(X).dtype == np.float32


def test_pca_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n_components"):
        PCA(10).fit(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="fit"):
        PCA(2).transform(np.zeros((5, 3)))


def test_as_float_images_rejects_flat_rows() -> None:
    with pytest.raises(ValueError, match="reshape"):
        as_float_images(np.zeros((4, 784)).reshape(4, 784, 1, 1))


def _numpy_bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """warp_affine's sampling written out in numpy, every array (n, h, w): the oracle."""
    n, h, w = images.shape
    padded = np.zeros((n, h + 4, w + 4), np.float32)
    padded[:, 2:-2, 2:-2] = images
    r = np.clip(np.broadcast_to(rows, images.shape) + 2.0, 0.0, h + 2.0).astype(np.float32)
    c = np.clip(np.broadcast_to(cols, images.shape) + 2.0, 0.0, w + 2.0).astype(np.float32)
    r0, c0 = np.floor(r), np.floor(c)
    fr, fc = r - r0, c - c0
    i = np.arange(n)[:, None, None]
    at = (i, r0.astype(int), c0.astype(int))
    right = (i, r0.astype(int), c0.astype(int) + 1)
    below = (i, r0.astype(int) + 1, c0.astype(int))
    diagonal = (i, r0.astype(int) + 1, c0.astype(int) + 1)
    top = padded[at] * (1 - fc) + padded[right] * fc
    bottom = padded[below] * (1 - fc) + padded[diagonal] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


@pytest.mark.parametrize("per_image", [False, True])
def test_warp_affine_samples_as_numpy_does_bit_for_bit(per_image: bool) -> None:
    # The compiled sampler against the formula in numpy, on coordinates inside, on, and far
    # outside the frame (clamped into the zero padding), whole and fractional, one map shared
    # by the stack or one per image.
    rng = np.random.default_rng(3)
    images = rng.random((7, 9, 11), dtype=np.float32)
    shape = images.shape if per_image else images.shape[1:]
    rows = rng.uniform(-30, 40, shape).astype(np.float32)
    cols = rng.uniform(-30, 40, shape).astype(np.float32)
    rows.flat[::5] = np.round(rows.flat[::5])  # whole pixels, the frame's edges, the clamp
    cols.flat[1::7] = np.float32(10.0)
    rows.flat[2::9] = np.float32(-2.0)
    sampled = warp_affine(images, rows, cols)
    assert sampled.dtype == np.float32 and sampled.shape == images.shape
    np.testing.assert_array_equal(sampled, _numpy_bilinear(images, rows, cols))
    identity = np.indices(images.shape[1:]).astype(np.float32)
    np.testing.assert_array_equal(warp_affine(images, identity[0], identity[1]), images)
