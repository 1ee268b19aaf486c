"""IDM against a naive per-pixel loop, and the properties that make it useful."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.features import augment
from knn_digits.rerank import PAD, idm_candidates, idm_distance, idm_features, idm_rerank


def naive_idm(query: np.ndarray, ref: np.ndarray, warp: int = 2) -> float:
    """IDM written as the definition reads: every pixel, every displacement, every patch."""
    q = idm_features(query)[0].astype(np.float64)  # (2, h + 2·PAD, w + 2·PAD)
    r = idm_features(ref)[0].astype(np.float64)
    h, w = query.shape
    total = 0.0
    for y in range(PAD, PAD + h):
        for x in range(PAD, PAD + w):
            q_patch = q[:, y - 1 : y + 2, x - 1 : x + 2]
            costs = [
                ((q_patch - r[:, y + dy - 1 : y + dy + 2, x + dx - 1 : x + dx + 2]) ** 2).sum()
                for dy in range(-warp, warp + 1)
                for dx in range(-warp, warp + 1)
            ]
            total += float(min(costs))
    return total


def blobs(n: int, size: int, seed: int) -> np.ndarray:
    """Random smooth-ish images (n, size, size) in [0, 1] with their ink away from the border."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, size, size), np.float32)
    img[:, 2:-2, 2:-2] = rng.random((n, size - 4, size - 4)) ** 3
    return img


@pytest.mark.parametrize("warp", [0, 1, 2])
def test_idm_equals_a_naive_per_pixel_loop(warp: int) -> None:
    a, b, c = blobs(3, 9, seed=warp)
    got = idm_distance(np.stack([a, b]), np.stack([b, c, a]), warp=warp)  # (2, 3)
    expected = [[naive_idm(q, r, warp) for r in (b, c, a)] for q in (a, b)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sobel_channels_match_scipy() -> None:
    from scipy import ndimage

    img = blobs(1, 12, seed=5)[0]
    feats = idm_features(img)[0]
    padded = np.pad(img, PAD)
    for channel, axis in ((0, 0), (1, 1)):
        sobel = ndimage.sobel(padded, axis=axis, mode="constant")
        np.testing.assert_allclose(feats[channel], (sobel + 4) / 8, atol=1e-6)


def test_idm_of_an_image_with_itself_is_zero() -> None:
    images = blobs(4, 28, seed=7)
    np.testing.assert_allclose(np.diag(idm_distance(images, images)), 0.0, atol=1e-6)


def test_one_pixel_shift_costs_far_less_than_its_l2() -> None:
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:15] = 1.0  # a "1"
    digit[6:9, 9:12] = 1.0  # with a flag
    shifted = np.roll(digit, (1, 1), axis=(0, 1))
    feats = idm_features(np.stack([digit, shifted]))
    l2 = float(((feats[0] - feats[1]) ** 2).sum())  # same features, no warping
    idm = float(idm_distance(digit, shifted)[0, 0])
    assert idm < 0.05 * l2


def test_rerank_takes_each_querys_own_candidates() -> None:
    images = blobs(5, 28, seed=3)
    feats = idm_features(images)
    full = idm_distance(images[:2], images)  # (2, 5)
    cand = np.array([[4, 0, 2], [1, 3, 3]])
    expected = np.take_along_axis(full, cand, axis=1)
    np.testing.assert_allclose(idm_rerank(feats[:2], feats, cand), expected)


@pytest.mark.parametrize(
    ("cand", "warp", "match"),
    [
        (np.array([[0, 5]]), 2, "candidate indices"),
        (np.array([0, 1]), 2, "n_candidates"),
        (np.array([[0, 1]]), 3, "warp"),
    ],
)
def test_rerank_explains_bad_arguments(cand: np.ndarray, warp: int, match: str) -> None:
    feats = idm_features(blobs(2, 28, seed=0))
    with pytest.raises(ValueError, match=match):
        idm_rerank(feats[:1], feats, cand, warp=warp)


def test_idm_candidates_tries_distortions_on_the_nearest_only() -> None:
    refs = blobs(6, 28, seed=11)
    queries = blobs(3, 28, seed=12)
    cand = np.array([[0, 1, 2, 3], [5, 4, 3, 2], [1, 1, 0, 5]])
    plain = np.take_along_axis(idm_distance(queries, refs), cand, axis=1)  # (3, 4)
    # Chunks of 2 queries (8 pairs): the per-chunk gathering of candidates must not change anything.
    np.testing.assert_allclose(idm_candidates(queries, refs, cand, chunk_pairs=8), plain)

    distortions = {"angles": (10.0,), "scales": (1.1,)}
    got = idm_candidates(queries, refs, cand, distortions=distortions, n_distorted=2, chunk_pairs=8)
    variants = augment(refs, **distortions)  # (2 · 6, 28, 28)
    to_variants = idm_distance(queries, variants).reshape(3, 2, 6).min(axis=1)  # (3, 6)
    for i in range(3):
        nearest = np.argsort(plain[i], kind="stable")[:2]
        expected = plain[i].copy()
        expected[nearest] = np.minimum(plain[i, nearest], to_variants[i, cand[i, nearest]])
        np.testing.assert_allclose(got[i], expected, rtol=1e-6)
    assert (got < plain).any()  # the distortions did something
