"""IDM against a naive per-pixel loop, and the properties that make it useful."""

from __future__ import annotations

import numpy as np
import pytest

from knn_digits.features import augment
from knn_digits.rerank import (
    PAD,
    distort,
    idm_candidates,
    idm_distance,
    idm_features,
    idm_rerank,
    thicken,
)


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


def test_sobel_channels_equal_numpys_bit_for_bit() -> None:
    # The compiled kernel against the same recipe as whole-stack numpy operations, in float32:
    # a pixel's features may not depend on how they were computed.
    rng = np.random.default_rng(11)
    images = np.concatenate([blobs(3, 28, seed=4), rng.random((3, 28, 28), np.float32)])
    n, h, w = images.shape
    z = np.zeros((n, h + 2 * PAD + 2, w + 2 * PAD + 2), np.float32)
    z[:, PAD + 1 : PAD + 1 + h, PAD + 1 : PAD + 1 + w] = images
    across = z[:, :, :-2] + 2 * z[:, :, 1:-1] + z[:, :, 2:]
    down = z[:, :-2, :] + 2 * z[:, 1:-1, :] + z[:, 2:, :]
    expected = np.stack([across[:, 2:] - across[:, :-2], down[:, :, 2:] - down[:, :, :-2]], 1)
    expected += 4.0
    expected *= 0.125
    np.testing.assert_array_equal(idm_features(images), expected)


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


def assert_same_nearest(plain: np.ndarray, got: np.ndarray, nearest: int) -> None:
    """``got`` keeps every distance of ``plain`` up to each row's ``nearest``-th, bit for bit,
    and may only have replaced farther ones by larger ones (+inf, when abandoned)."""
    kth = np.sort(plain, axis=1)[:, nearest - 1 : nearest]  # (n, 1)
    needed = plain <= kth
    np.testing.assert_array_equal(got[needed], plain[needed])
    assert np.all((got == plain) | ((got > plain) & ~needed))
    order = np.argsort(plain, axis=1, kind="stable")[:, :nearest]
    np.testing.assert_array_equal(np.argsort(got, axis=1, kind="stable")[:, :nearest], order)


@pytest.mark.parametrize("n_queries", [1, 5])  # one query: its candidates split across cores
@pytest.mark.parametrize("nearest", [1, 3, 30])
def test_early_abandoning_keeps_each_querys_nearest_exactly(
    mnist_train, n_queries: int, nearest: int
) -> None:
    digits = mnist_train[0][:400]
    feats = idm_features(digits)
    rng = np.random.default_rng(nearest)
    cand = rng.integers(n_queries, 400, size=(n_queries, 120))
    cand[:, 7] = cand[:, 3]  # a candidate twice: a tie at any rank
    plain = idm_rerank(feats[:n_queries], feats, cand)
    got = idm_rerank(feats[:n_queries], feats, cand, nearest=nearest)
    assert_same_nearest(plain, got, nearest)
    assert np.all((got == plain) | np.isinf(got))
    assert np.all(np.isinf(got).any(axis=1))  # far candidates were abandoned for every query


def test_ties_at_the_nearest_are_all_kept() -> None:
    refs = np.repeat(blobs(3, 28, seed=21), 4, axis=0)  # each image four times
    feats = idm_features(refs)
    queries = idm_features(blobs(2, 28, seed=22))
    cand = np.tile(np.arange(12), (2, 1))
    plain = idm_rerank(queries, feats, cand)
    got = idm_rerank(queries, feats, cand, nearest=2)
    assert_same_nearest(plain, got, 2)
    assert np.all(np.isfinite(got).sum(axis=1) >= 4)  # the nearest image's four copies


def test_a_bound_only_drops_distances_above_it(mnist_train) -> None:
    feats = idm_features(mnist_train[0][:60])
    cand = np.tile(np.arange(10, 60), (3, 1))
    plain = idm_rerank(feats[:3], feats, cand)
    bound = np.median(plain, axis=1)
    got = idm_rerank(feats[:3], feats, cand, bound=bound)
    below = plain <= bound[:, None]
    np.testing.assert_array_equal(got[below], plain[below])
    assert np.all(np.isinf(got[~below]) | (got[~below] == plain[~below]))
    assert np.isinf(got).any()


def test_rerank_refuses_nearest_below_one() -> None:
    feats = idm_features(blobs(2, 28, seed=0))
    with pytest.raises(ValueError, match="nearest"):
        idm_rerank(feats[:1], feats, np.array([[0, 1]]), nearest=0)


@pytest.mark.parametrize("k", [1, 4])
def test_idm_candidates_with_distortions_keeps_the_k_nearest(mnist_train, k: int) -> None:
    digits = mnist_train[0][:300]
    rng = np.random.default_rng(k)
    cand = rng.integers(10, 300, size=(10, 80))
    distortions = {"angles": (8.0, -8.0), "scales": (0.9, 1.1)}
    kwargs = {"distortions": distortions, "n_distorted": 6, "chunk_pairs": 4 * 80}
    plain = idm_candidates(digits[:10], digits, cand, **kwargs)
    got = idm_candidates(digits[:10], digits, cand, nearest=k, **kwargs)
    assert_same_nearest(plain, got, k)
    assert np.isinf(got).any()


def naive_thicken(image: np.ndarray, share: float) -> np.ndarray:
    """Each pixel mixed with the brightest of itself and its four neighbours (0 outside)."""
    h, w = image.shape
    out = np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            around = [image[y, x]] + [
                image[y + dy, x + dx]
                for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if 0 <= y + dy < h and 0 <= x + dx < w
            ]
            out[y, x] = (1 - share) * image[y, x] + share * max(around)
    return out


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_thicken_equals_a_naive_per_pixel_loop(share: float) -> None:
    images = blobs(2, 9, seed=31)
    images[0, 0, 4] = 1.0  # ink on the border: outside the frame counts as blank
    expected = np.stack([naive_thicken(image, share) for image in images])
    np.testing.assert_allclose(thicken(images, share), expected, rtol=1e-6)


def test_thicken_only_adds_ink_and_keeps_blank_and_full_images() -> None:
    images = blobs(3, 28, seed=32)
    np.testing.assert_array_equal(thicken(images, 0.0), images)
    thick = thicken(images, 0.5)
    assert np.all(thick >= images) and np.all(thick <= 1) and (thick > images).any()
    assert np.all(thicken(np.zeros((1, 28, 28), np.float32), 1.0) == 0)
    # uint8 in, float32 in [0, 1] out, as every image function here.
    as_uint8 = np.rint(images * 255).astype(np.uint8)
    np.testing.assert_allclose(thicken(as_uint8, 0.5), thicken(as_uint8 / 255, 0.5), atol=1e-6)


def test_distort_gives_the_affine_blocks_then_the_thicker_ones() -> None:
    images = blobs(3, 28, seed=33)
    got = distort(images, {"angles": (12.0, -12.0), "thicken": (0.5, 1.0)})
    expected = np.concatenate(
        [augment(images, angles=(12.0, -12.0)), thicken(images, 0.5), thicken(images, 1.0)]
    )
    np.testing.assert_array_equal(got, expected)
    only_thicker = distort(images, {"thicken": (0.5,), "angles": ()})
    np.testing.assert_array_equal(only_thicker, thicken(images, 0.5))
    with pytest.raises(ValueError, match="at least one distortion"):
        distort(images, {"angles": (), "thicken": ()})


def test_idm_candidates_tries_thicker_references_on_the_nearest() -> None:
    refs = blobs(6, 28, seed=34)
    queries = thicken(refs[[0, 2, 4]], 1.0)  # thick copies of three references
    cand = np.array([[0, 1, 2, 3], [5, 4, 3, 2], [4, 1, 0, 5]])
    plain = np.take_along_axis(idm_distance(queries, refs), cand, axis=1)
    distortions = {"angles": (12.0,), "thicken": (1.0,)}
    got = idm_candidates(queries, refs, cand, distortions=distortions, n_distorted=2)
    to_variants = idm_distance(queries, distort(refs, distortions)).reshape(3, 2, 6).min(axis=1)
    for i in range(3):
        nearest = np.argsort(plain[i], kind="stable")[:2]
        expected = plain[i].copy()
        expected[nearest] = np.minimum(plain[i, nearest], to_variants[i, cand[i, nearest]])
        np.testing.assert_allclose(got[i], expected, rtol=1e-6)
    # A thick copy of a reference is at distance 0 from that reference drawn thicker.
    assert got[0, 0] == 0 and got[2, 0] == 0


@pytest.mark.parametrize("warp", [0, 1])
def test_idm_candidates_uses_the_warp_it_is_given(warp: int) -> None:
    refs = blobs(5, 28, seed=35)
    queries = blobs(2, 28, seed=36)
    cand = np.array([[0, 1, 2], [4, 3, 0]])
    expected = np.take_along_axis(idm_distance(queries, refs, warp=warp), cand, axis=1)
    got = idm_candidates(queries, refs, cand, warp=warp)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert (got > idm_candidates(queries, refs, cand)).all()  # a smaller warp costs more
