"""Tangent distance against an independent numpy computation, and the properties it promises."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from knn_digits.features import as_float_images, augment, blur, deskew
from knn_digits.tangent import tangent_distance


def reference_tangent_distance(query: np.ndarray, ref: np.ndarray, sigma: float) -> float:
    """The definition with numpy's tools: Simard's seven tangents, QR, distance to the plane."""
    smooth = ndimage.gaussian_filter(query.astype(np.float64), sigma, mode="constant", truncate=3)
    padded = np.pad(smooth, 1)
    gx = 0.5 * (padded[1:-1, 2:] - padded[1:-1, :-2])
    gy = 0.5 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
    y, x = np.mgrid[: query.shape[0], : query.shape[1]] - 13.5
    tangents = [
        gx,  # x-translation
        gy,  # y-translation
        y * gx - x * gy,  # rotation
        x * gx + y * gy,  # scaling
        x * gx - y * gy,  # parallel hyperbolic
        y * gx + x * gy,  # diagonal hyperbolic
        gx**2 + gy**2,  # thickening
    ]
    basis, _ = np.linalg.qr(np.stack([t.ravel() for t in tangents], axis=1))
    error = (query - ref).ravel().astype(np.float64)
    return float(np.sqrt(error @ error - np.sum((basis.T @ error) ** 2)))


def strokes(n: int, seed: int) -> np.ndarray:
    """Random smooth digits-like images (n, 28, 28) in [0, 1], ink away from the border."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 28, 28), np.float32)
    img[:, 6:22, 6:22] = rng.random((n, 16, 16)) > 0.7
    return np.clip(ndimage.gaussian_filter(img, (0, 1, 1)) * 2, 0, 1)


@pytest.mark.parametrize("sigma", [0.75, 1.0, 1.5])
def test_matches_numpy_qr_on_simards_tangents(sigma: float) -> None:
    queries, refs = strokes(3, seed=1), strokes(4, seed=2)
    cand = np.array([[0, 1, 2], [3, 2, 1], [1, 1, 0]])
    got = tangent_distance(queries, refs.reshape(4, -1), cand, sigma=sigma)
    expected = [
        [reference_tangent_distance(queries[i], refs[j], sigma) for j in cand[i]] for i in range(3)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_an_image_is_at_zero_from_itself_and_nothing_else_is() -> None:
    images = strokes(5, seed=3)
    cand = np.tile(np.arange(5), (5, 1))
    got = tangent_distance(images, images.reshape(5, -1), cand)
    assert np.all(np.diag(got) == 0)
    assert np.all(got[~np.eye(5, dtype=bool)] > 0)


def test_never_more_than_l2_and_a_blank_query_gets_plain_l2() -> None:
    images = strokes(6, seed=4)
    refs = images.reshape(6, -1)
    cand = np.tile(np.arange(6), (6, 1))
    l2 = np.linalg.norm(refs[:, None, :] - refs[None, :, :], axis=2)
    assert np.all(tangent_distance(images, refs, cand) <= l2 + 1e-5)
    blank = np.zeros((1, 28, 28), np.float32)
    np.testing.assert_allclose(
        tangent_distance(blank, refs, cand[:1]), np.linalg.norm(refs, axis=1)[None], rtol=1e-6
    )


def test_small_moves_lose_far_more_of_their_distance_than_other_digits(mnist_train) -> None:
    """The point of the tangents: a moved digit comes much closer, a different one hardly."""
    digits = as_float_images(mnist_train[0][:12])
    for digit, other in zip(digits[:6], digits[6:], strict=True):
        moved = augment(
            digit[None],
            shifts=[(0.5, 0.0), (0.0, -0.5)],
            angles=[3.0],
            shears=[0.05],
            scales=[1.04],
        )
        for image in [*moved, other]:
            l2 = float(np.linalg.norm(digit - image))
            td = float(tangent_distance(image[None], digit.reshape(1, -1), np.array([[0]]))[0, 0])
            if image is other:
                assert td > 0.85 * l2
            else:
                assert td < 0.8 * l2


def float64_tangent_distance(query: np.ndarray, ref: np.ndarray, smooth: np.ndarray) -> float:
    """The kernel's own recipe (its smoothing, gradients, Gram-Schmidt order) in float64."""
    padded = np.pad(smooth.astype(np.float64), 1)
    gx = 0.5 * (padded[1:-1, 2:] - padded[1:-1, :-2])
    gy = 0.5 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
    v, u = (np.mgrid[:28, :28] - 13.5) / 13.5
    basis: list[np.ndarray] = []
    for t in [gx, gy, u * gx, v * gx, u * gy, v * gy, gx**2 + gy**2]:
        t = t.ravel()
        size = t @ t
        for b in basis:
            t = t - (t @ b) * b
        if t @ t > 1e-12 and t @ t > 1e-6 * size:
            basis.append(t / np.sqrt(t @ t))
    error = (query - ref).ravel().astype(np.float64)
    return float(np.sqrt(error @ error - sum((b @ error) ** 2 for b in basis)))


@pytest.mark.parametrize("n_candidates", [1, 3, 20])
def test_matches_its_recipe_in_float64_on_mnist(mnist_train, n_candidates: int) -> None:
    """Prepared as ``fast`` prepares them; any number of candidates, fetched ahead or not."""
    digits = blur(deskew(mnist_train[0][:60]), 0.5)
    rng = np.random.default_rng(n_candidates)
    cand = rng.integers(10, 60, size=(10, n_candidates))
    got = tangent_distance(digits[:10], digits.reshape(60, -1), cand, sigma=0.75)
    smooth = blur(digits[:10], 0.75)
    expected = [
        [float64_tangent_distance(digits[i], digits[j], smooth[i]) for j in cand[i]]
        for i in range(10)
    ]
    np.testing.assert_allclose(got, expected, rtol=2e-5)


@pytest.mark.parametrize(
    ("refs", "cand", "match"),
    [
        (np.zeros((3, 100), np.float32), [[0]], "flattened"),
        (np.zeros((3, 784), np.float32), [0], "candidates of shape"),
        (np.zeros((3, 784), np.float32), [[3]], r"lie in \[0, 3\)"),
    ],
)
def test_explains_bad_arguments(refs: np.ndarray, cand: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tangent_distance(strokes(1, seed=6), refs, np.array(cand))
