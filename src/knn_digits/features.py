"""Image transforms and fitted feature steps for the kNN presets.

What this module adds to plain pixels, each step measured on the validation split
(``docs/validation.md``):

* :func:`deskew` — undo the slant of handwriting with intensity moments (LeCun et al. 1998: plain
  kNN 5.0 % → 2.4 %). A numba loop over the batch: it sits in the ``fast`` preset's hot path.
* :func:`blur` — a Gaussian blur that makes L2 tolerant to sub-pixel stroke offsets.
* :class:`PCA` — a float32 projection fitted by an eigendecomposition of the covariance; fewer
  dimensions make the first-stage search cheap and drop pixel noise.
* :func:`augment` — small shifts and rotations of the training images, to add references.

All functions take and return float32 stacks of shape ``(n, 28, 28)`` with values in [0, 1]
(:func:`as_float_images` converts uint8 once, at the boundary). What is left out: noise removal,
elastic distortions and anything learned beyond PCA.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PCA", "as_float_images", "augment", "blur", "deskew", "warp_affine"]

#: MNIST puts the intensity centre of mass at (14.0, 14.0), 0-indexed (DESIGN.md §1);
#: deskewed and rotated images are centred there too, so they stay comparable with raw ones.
CENTRE = 14.0


def as_float_images(images: ArrayLike) -> NDArray[np.float32]:
    """Return a float32 stack ``(n, h, w)`` in [0, 1] from uint8 0–255 or float [0, 1] input.

    A single image ``(h, w)`` becomes a stack of one. uint8 is divided by 255 here, once, so no
    later arithmetic can overflow.

    >>> as_float_images(np.full((2, 2), 255, np.uint8))[0, 0, 0]
    np.float32(1.0)
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"expected images of shape (n, h, w) or (h, w), got shape {arr.shape}; "
            "reshape flat rows with images.reshape(-1, 28, 28)"
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    return np.asarray(arr, dtype=np.float32)


def warp_affine(
    images: NDArray[np.float32], rows: NDArray[np.float32], cols: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Sample every image at its own source coordinates, bilinearly, zero outside the frame.

    ``rows`` and ``cols`` (each broadcastable to ``images.shape``) say, for every output pixel,
    where in the *input* image to read. Coordinates and weights are worked out in the shape
    they come in (one (h, w) map for a whole stack, as :func:`augment` gives, is worked out
    once), then a compiled loop samples every image: ``accurate`` distorts its candidates for
    every digit it reads, and numpy's four gathers and temporaries over the stack took twice as
    long (``scipy.ndimage.affine_transform`` image by image is slower still).
    """
    n, h, w = images.shape
    # Pad by two zero pixels on every side and clamp coordinates to [-2, h] (resp. w): a point
    # clamped from further out then only ever reads padding, so it samples 0 as it should.
    padded = np.zeros((n, h + 4, w + 4), np.float32)
    padded[:, 2:-2, 2:-2] = images
    shape = np.broadcast_shapes(np.shape(rows), np.shape(cols))
    r = np.clip(np.broadcast_to(rows, shape) + 2.0, 0.0, h + 2.0).astype(np.float32)
    c = np.clip(np.broadcast_to(cols, shape) + 2.0, 0.0, w + 2.0).astype(np.float32)
    r0 = np.floor(r)  # float32; fractions stay float32 (no float64 promotion)
    c0 = np.floor(c)
    fr = r - r0
    fc = c - c0
    # Flat index of each output pixel's top-left neighbour within its padded image.
    corner = r0.astype(np.intp) * (w + 4) + c0.astype(np.intp)
    out = np.empty(images.shape, np.float32)
    corner, fr, fc = (np.broadcast_to(a, images.shape) for a in (corner, fr, fc))
    _bilinear(padded.reshape(n, -1), w + 4, corner, fr, fc, out)
    return out


@numba.njit(parallel=True, cache=True)
def _bilinear(
    flat: NDArray[np.float32],
    stride: int,
    corner: NDArray[np.intp],
    fr: NDArray[np.float32],
    fc: NDArray[np.float32],
    out: NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """out[i, y, x]: padded image i's four pixels around its corner (``stride`` per padded row),
    weighted by the fractions.

    float32 arithmetic in numpy's order and without fastmath (no fused multiply-adds), so the
    samples equal the vectorised numpy version's bit for bit.
    """
    n, h, w = out.shape
    one = np.float32(1.0)
    for i in numba.prange(n):
        image = flat[i]
        for y in range(h):
            for x in range(w):
                at = corner[i, y, x]
                down, across = fr[i, y, x], fc[i, y, x]
                left = one - across
                top = image[at] * left + image[at + 1] * across
                bottom = image[at + stride] * left + image[at + stride + 1] * across
                out[i, y, x] = top * (one - down) + bottom * down


@numba.njit(parallel=True, fastmath=True, cache=True)
def _deskew_kernel(x: NDArray[np.float32], centre: float) -> NDArray[np.float32]:
    """Moments, then the sheared bilinear resampling, image by image in parallel; see deskew."""
    n, h, w = x.shape
    out = np.zeros_like(x)
    for i in numba.prange(n):
        img = x[i]
        mass = 0.0
        sum_r = 0.0
        sum_c = 0.0
        for r in range(h):
            for c in range(w):
                mass += img[r, c]
                sum_r += img[r, c] * r
                sum_c += img[r, c] * c
        if mass <= 0:
            continue  # an empty image stays empty
        mu_r = sum_r / mass
        mu_c = sum_c / mass
        var_r = 0.0
        cov = 0.0
        for r in range(h):
            for c in range(w):
                var_r += img[r, c] * (r - mu_r) ** 2
                cov += img[r, c] * (r - mu_r) * (c - mu_c)
        alpha = cov / var_r if var_r > 1e-6 * mass else 0.0
        for r in range(h):
            src_r = r + mu_r - centre  # the same source row for the whole output row
            r0 = int(np.floor(src_r))
            fr = src_r - r0
            shift = alpha * (r - centre) + mu_c - centre
            for c in range(w):
                src_c = c + shift
                c0 = int(np.floor(src_c))
                fc = src_c - c0
                acc = 0.0
                for rr, wr in ((r0, 1.0 - fr), (r0 + 1, fr)):
                    if 0 <= rr < h:
                        if 0 <= c0 < w:
                            acc += wr * (1.0 - fc) * img[rr, c0]
                        if 0 <= c0 + 1 < w:
                            acc += wr * fc * img[rr, c0 + 1]
                out[i, r, c] = min(max(acc, 0.0), 1.0)
    return out


def deskew(images: ArrayLike) -> NDArray[np.float32]:
    """Shear every image so its principal axis is vertical, and centre its mass at (14, 14).

    Parameters
    ----------
    images : array of shape (n, h, w) or (h, w), uint8 0–255 or float in [0, 1]

    Returns
    -------
    ndarray of shape (n, h, w), float32 in [0, 1]

    With intensity moments — centroid (μr, μc), ``var_r = E[(r − μr)²]``,
    ``cov = E[(r − μr)(c − μc)]`` — the slant is ``alpha = cov / var_r``; output pixel (r, c)
    reads the input at ``(r + μr − 14, c + alpha·(r − 14) + μc − 14)``, bilinearly, zero outside:
    the affine map ``[[1, 0], [alpha, 1]]`` about the centroid (DESIGN.md §3). Deskewing is in
    the hot path of the ``fast`` preset, whose whole budget for 10,000 digits is about a second,
    so it is a compiled loop: 0.05 s for 10,000 images against 0.15–0.45 s for the best
    vectorised numpy version (two 1-D interpolation passes) on this 2-core machine.

    >>> bar = np.zeros((28, 28), np.float32)
    >>> for r in range(6, 22):
    ...     bar[r, 20 - (r - 6) // 2] = 1.0   # "/" leaning right
    >>> np.ptp(np.nonzero(deskew(bar)[0] > 0.5)[1]) <= 1   # upright: one or two columns
    np.True_
    """
    return _deskew_kernel(np.ascontiguousarray(as_float_images(images)), CENTRE)


def blur(images: ArrayLike, sigma: float) -> NDArray[np.float32]:
    """Gaussian blur of each image, never across the stack.

    ``sigma`` is in pixels; 0 returns the images unchanged. Zero outside the frame, taps out to
    3 sigma: the same numbers as ``scipy.ndimage.gaussian_filter(image, sigma,
    mode="constant", truncate=3)`` per image (the tests check), ~5× faster on a stack, which
    matters in the ``fast`` preset's hot path. (Calling scipy on the whole stack with one sigma
    would also mix neighbouring images: DESIGN.md §3's pitfall.)
    """
    x = as_float_images(images)
    if sigma <= 0:
        return x
    radius = int(3.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return _separable_blur(np.ascontiguousarray(x), (taps / taps.sum()).astype(np.float32))


@numba.njit(parallel=True, fastmath=True, cache=True)
def _separable_blur(
    x: NDArray[np.float32], taps: NDArray[np.float32]
) -> NDArray[np.float32]:  # pragma: no cover - compiled
    """Rows, then columns, image by image in parallel; outside the frame counts as 0.

    Each tap is one long vectorised run over the flattened image: the row pass shifts whole
    image rows, and the column pass reads rows padded with ``radius`` zeros on both sides, so
    no run needs an edge test (1.7× faster than looping over 28-pixel rows with them). Every
    pixel still adds its taps in order from 0 (a padding zero adds +0): for the presets'
    sigmas (0.5, 0.75, 1.0) the blurred digits equal the row-by-row loop's bit for bit.
    """
    n, h, w = x.shape
    radius = len(taps) // 2
    wide = w + 2 * radius
    out = np.empty_like(x)
    for i in numba.prange(n):
        image = x[i].reshape(-1)
        rows = np.zeros(h * w, np.float32)
        for t in range(len(taps)):
            shift = t - radius
            first, last = max(0, -shift), min(h, h - shift)
            _add_scaled(
                rows[first * w : last * w], image[(first + shift) * w : (last + shift) * w], taps[t]
            )
        padded = np.zeros(h * wide, np.float32)
        padded.reshape(h, wide)[:, radius : radius + w] = rows.reshape(h, w)
        columns = np.zeros(h * wide, np.float32)
        for t in range(len(taps)):
            shift = t - radius
            _add_scaled(
                columns[radius : h * wide - radius],
                padded[radius + shift : h * wide - radius + shift],
                taps[t],
            )
        out[i] = columns.reshape(h, wide)[:, radius : radius + w]
    return out


@numba.njit(fastmath=True, cache=True)
def _add_scaled(
    out: NDArray[np.float32], source: NDArray[np.float32], scale: np.float32
) -> None:  # pragma: no cover - compiled
    """out += scale · source, element by element (one vectorised loop)."""
    for p in range(len(out)):
        out[p] += scale * source[p]


def augment(
    images: ArrayLike,
    *,
    shifts: Sequence[tuple[float, float]] = (),
    angles: Sequence[float] = (),
    shears: Sequence[float] = (),
    scales: Sequence[float] = (),
) -> NDArray[np.float32]:
    """Distorted copies of a stack: one block per shift, then per rotation, shear and scale.

    Parameters
    ----------
    images : array of shape (n, h, w), uint8 or float in [0, 1]
    shifts : (drow, dcol) pixel offsets; content moves down/right for positive values
    angles : rotations in degrees about (14, 14), counter-clockwise as seen on screen
    shears : horizontal shears: content at row r moves right by ``shear · (14 − r)`` px,
        so a positive shear leans upright strokes to the right, like a slant
    scales : zoom factors about (14, 14); above 1 enlarges

    Returns
    -------
    ndarray of shape (n · n_distortions, h, w), float32, blocks in the order listed — the
    originals are *not* included, so ``np.concatenate([x, augment(x, ...)])`` is the augmented
    set and ``np.tile(y, 1 + n_distortions)`` its labels.

    Each distortion is an affine map about the centre, sampled with :func:`warp_affine`.
    """
    x = as_float_images(images)
    _, h, w = x.shape
    # Every distortion as (matrix, offset): output offset from the centre -> source offset.
    maps: list[tuple[NDArray[np.float64], tuple[float, float]]] = []
    maps += [(np.eye(2), (-dr, -dc)) for dr, dc in shifts]
    for deg in angles:
        t = np.deg2rad(deg)
        maps.append((np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]), (0.0, 0.0)))
    maps += [(np.array([[1.0, 0.0], [shear, 1.0]]), (0.0, 0.0)) for shear in shears]
    maps += [(np.eye(2) / scale, (0.0, 0.0)) for scale in scales]
    r = np.arange(h, dtype=np.float32)[:, None] - CENTRE  # (h, 1)
    c = np.arange(w, dtype=np.float32)[None, :] - CENTRE  # (1, w)
    blocks = [
        warp_affine(
            x,
            (m[0, 0] * r + m[0, 1] * c + CENTRE + off[0]).astype(np.float32),
            (m[1, 0] * r + m[1, 1] * c + CENTRE + off[1]).astype(np.float32),
        )
        for m, off in maps
    ]
    return np.concatenate(blocks) if blocks else np.empty((0, h, w), np.float32)


class PCA:
    """Principal components, fitted by an eigendecomposition of the float32 covariance.

    Parameters
    ----------
    n_components : int
        Number of directions kept; each one is a unit vector in pixel space.

    Attributes (after ``fit``)
    --------------------------
    mean_ : ndarray (n_features,), float32
    components_ : ndarray (n_components, n_features), float32 — rows, largest variance first,
        each signed so its largest-magnitude entry is positive (a deterministic sign).
    explained_variance_ : ndarray (n_components,), float32

    The data pass ``Xc.T @ Xc`` runs in float32 BLAS (60,000 × 784 in about a second); the small
    ``(d, d)`` eigenproblem is solved in float64, which costs nothing and keeps the trailing
    components accurate.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype(np.float32) * [5, 1, 1, 1, 0.1]
    >>> pca = PCA(2).fit(X)
    >>> pca.transform(X).shape
    (200, 2)
    """

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components

    def fit(self, X: ArrayLike) -> PCA:
        """Fit on rows of ``X`` ``(n_samples, n_features)``; returns ``self``."""
        x = np.asarray(X, dtype=np.float32)
        if x.ndim != 2 or not 0 < self.n_components <= min(x.shape):
            raise ValueError(
                f"PCA expects a 2-D array with at least n_components={self.n_components} rows "
                f"and columns, got shape {x.shape}; flatten images with x.reshape(len(x), -1)"
            )
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)  # (d,)
        xc = x - mean  # (n, d)
        cov = (xc.T @ xc).astype(np.float64) / max(len(x) - 1, 1)  # (d, d)
        evals, evecs = np.linalg.eigh(cov)  # ascending
        order = np.argsort(evals)[::-1][: self.n_components]
        comps = evecs[:, order].T  # (k, d)
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        self.mean_ = mean
        self.components_ = (comps * signs[:, None]).astype(np.float32)
        self.explained_variance_ = np.maximum(evals[order], 0).astype(np.float32)
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float32]:
        """Project rows ``(n, n_features)`` onto the components: ``(n, n_components)`` float32."""
        if not hasattr(self, "components_"):
            raise ValueError("PCA is not fitted yet; call fit(X) first")
        x = np.asarray(X, dtype=np.float32)
        return (x - self.mean_) @ self.components_.T
