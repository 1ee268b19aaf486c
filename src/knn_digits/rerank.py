"""Second-stage distances for re-ranking a few candidates: the image distortion model (IDM).

IDM (Keysers et al., TPAMI 2007; DESIGN.md §3) compares a query with a reference while letting
every query pixel move independently by up to ``warp`` pixels in the reference. Each image is
first turned into two channels, its vertical and horizontal 3×3 Sobel responses rescaled to
``(g + 4) / 8`` (grey values are not used); the cost of matching query pixel p to reference
pixel p + d is the squared difference of the 3×3 patches of both channels around them. The
distance is the sum over query pixels of the cheapest displacement. It is not symmetric (the
query is matched into the reference) and has no smoothness term.

Outside the 28×28 frame an image has zero gradient (channel value 0.5): the feature maps are
padded so patches and displacements near the border read that value instead of being clipped.

One IDM comparison costs about as much as 450 L2 comparisons, so it only re-ranks the top-N
candidates of a cheap first stage. The kernel is compiled with numba and runs in parallel over
queries: plain numpy needed ~21 ms per query for N = 100 (DESIGN.md), far from the ≤ 10 minutes
per 10,000 test images the ``accurate`` preset must meet on two cores.

Early abandoning: IDM is a sum of non-negative per-pixel costs, and a caller needs only each
query's few nearest (the k that vote, the ``n_distorted`` that get distorted references). The
kernel adds up bands of rows, the query's most inked first, and stops a candidate once its
partial sum passes the nearest-th distance found so far: +inf, never among the nearest. The
distances it does finish are bit for bit those of a run without a limit, so the neighbours are
the same (``benchmarks/idm_abandon.py``: 10–17 % off the full stage on a quiet machine).

:func:`idm_candidates` is the whole second stage: IDM to every first-stage candidate, then, for
the closest few, also to slightly rotated, sheared and scaled copies of them (the best match
counts) — distorted references that IDM's independent ±2-pixel moves can't produce — and, in
``accurate`` and ``best``, copies drawn with thicker strokes (:func:`thicken`).

Which images: the ``accurate`` preset gives IDM the deskewed digits its first stage starts
from. On validation that beat raw digits at every N and M tried (0.48 % against 0.58 % at
best; docs/validation.md), although DESIGN.md's earlier 1-NN prototype on 5,000 queries had
found deskewing no help.

Warps beyond ±2 were tried for ``best`` (``docs/best.md``) and lost digits: with ±3 pixels
every query pixel finds a look-alike somewhere, so :data:`MAX_WARP` stays 2.

What is left out: the P2DHMDM's row constraints. Tangent distance, the cheaper second stage, is
in :mod:`knn_digits.tangent`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from knn_digits.features import as_float_images, augment
from knn_digits.neighbors import candidate_indices

__all__ = [
    "MAX_WARP",
    "PAD",
    "distort",
    "idm_candidates",
    "idm_distance",
    "idm_features",
    "idm_rerank",
    "thicken",
]

#: Largest displacement per axis the kernel supports.
MAX_WARP = 2
#: Padding (pixels) around each feature map: the largest warp, one for the 3×3 context and one
#: so the kernel's flat loops may run past a row's end without leaving the map.
PAD = MAX_WARP + 2
#: Image rows per band: a candidate's running total is checked against its limit after each.
BAND = 4


def idm_features(images: ArrayLike) -> NDArray[np.float32]:
    """The two Sobel channels of each image, rescaled to [0, 1] and padded by :data:`PAD`.

    Parameters
    ----------
    images : array of shape (n, h, w) or (h, w), uint8 0–255 or float in [0, 1]

    Returns
    -------
    ndarray of shape (n, 2, h + 2·PAD, w + 2·PAD), float32, C-contiguous: channel 0 is the
    vertical derivative (rows), channel 1 the horizontal one, both ``(g + 4) / 8``; a flat region,
    inside or outside the frame, is 0.5.

    >>> idm_features(np.zeros((1, 28, 28), np.uint8)).shape
    (1, 2, 36, 36)
    """
    x = as_float_images(images)
    n, h, w = x.shape
    out = np.empty((n, 2, h + 2 * PAD, w + 2 * PAD), np.float32)
    _sobel_features(x, out)
    return out


@numba.njit(parallel=True, cache=True)
def _sobel_features(x: NDArray[np.float32], out: NDArray[np.float32]) -> None:
    """:func:`idm_features` in one pass per image (numpy's eight passes over the stack took a
    third of a drawing's reading: it runs on the 1000 candidates of every query).

    Each image sits in a zero frame one pixel wider than the padded map, so the 3×3 Sobel is
    defined on the whole map. The arithmetic is numpy's, float32, in the same order — smooth
    ``[1, 2, 1]`` across, then derive ``[-1, 0, 1]`` — so the maps are equal bit for bit.
    """
    n, h, w = x.shape
    H, W = out.shape[2], out.shape[3]
    two, four, eighth = np.float32(2.0), np.float32(4.0), np.float32(0.125)
    for i in numba.prange(n):
        z = np.zeros((H + 2, W + 2), np.float32)
        z[PAD + 1 : PAD + 1 + h, PAD + 1 : PAD + 1 + w] = x[i]
        across = np.empty((H + 2, W), np.float32)  # smoothed along rows, for d/drow
        for r in range(H + 2):
            for c in range(W):
                across[r, c] = z[r, c] + two * z[r, c + 1] + z[r, c + 2]
        down = np.empty((H, W + 2), np.float32)  # smoothed along columns, for d/dcol
        for r in range(H):
            for c in range(W + 2):
                down[r, c] = z[r, c] + two * z[r + 1, c] + z[r + 2, c]
        for r in range(H):
            for c in range(W):
                out[i, 0, r, c] = (across[r + 2, c] - across[r, c] + four) * eighth
                out[i, 1, r, c] = (down[r, c + 2] - down[r, c] + four) * eighth


@numba.njit(fastmath=True, cache=True)
def _band_order(
    qa: NDArray[np.float32], qb: NDArray[np.float32], S: int, h: int, w: int
) -> NDArray[np.int64]:
    """The query's bands of :data:`BAND` rows, most edge energy first: where the query has
    strokes a reference's cost piles up soonest, so hopeless references stop earliest."""
    n_bands = (h + BAND - 1) // BAND
    energy = np.zeros(n_bands)
    for y in range(h):
        row = (y + 1) * S  # image row y is context row y + 1
        for x in range(PAD, PAD + w):
            energy[y // BAND] += (qa[row + x] - 0.5) ** 2 + (qb[row + x] - 0.5) ** 2
    return np.argsort(-energy, kind="mergesort")


@numba.njit(fastmath=True, cache=True)
def _box_rows(
    qa: NDArray[np.float32],
    qb: NDArray[np.float32],
    ra: NDArray[np.float32],
    rb: NDArray[np.float32],
    S: int,
    warp: int,
    c0: int,
    c1: int,
    rowbox: NDArray[np.float32],
    diff: NDArray[np.float32],
) -> None:
    """Context rows [c0, c1) of every displacement's squared difference, summed along rows
    over three pixels, into ``rowbox``."""
    n_ctx = len(diff)
    side = 2 * warp + 1
    first = (PAD - 1) * S
    # Loops index slices from 0: numba's negative-index check on an offset index would keep
    # LLVM from vectorising (20× slower).
    run = slice(c0 * S, c1 * S)
    q_a, q_b, d_run = qa[run], qb[run], diff[run]
    inner = slice(max(c0 * S, 1), min(c1 * S, n_ctx - 1))  # the box reads one either side
    left, mid, right = diff[inner.start - 1 :], diff[inner.start :], diff[inner.start + 1 :]
    for d in range(side * side):
        start = first + (d // side - warp) * S + (d % side - warp)
        r_a, r_b = ra[start + run.start :], rb[start + run.start :]
        for f in range(len(d_run)):
            a = q_a[f] - r_a[f]
            b = q_b[f] - r_b[f]
            d_run[f] = a * a + b * b
        box = rowbox[d, inner]
        for f in range(len(box)):
            box[f] = left[f] + mid[f] + right[f]


@numba.njit(fastmath=True, cache=True)
def _idm_one(
    qa: NDArray[np.float32],
    qb: NDArray[np.float32],
    ra: NDArray[np.float32],
    rb: NDArray[np.float32],
    S: int,
    warp: int,
    h: int,
    w: int,
    bands: NDArray[np.int64],
    limit: float,
    rowbox: NDArray[np.float32],
    diff: NDArray[np.float32],
    best: NDArray[np.float32],
    ready: NDArray[np.bool_],
) -> float:
    """IDM of one query–reference pair, or +inf once its running total passes ``limit``.

    ``qa``, ``qb`` are the query's channels from its first context row (image row -1), ``ra``,
    ``rb`` the reference's whole flat maps, ``bands`` the order of the bands; ``rowbox``
    (n_displacements, (h + 2)·S), ``diff`` ((h + 2)·S), ``best`` (BAND·S) and ``ready``
    (h + 2) are scratch space.
    """
    side = 2 * warp + 1
    ready[:] = False  # context rows whose row boxes are computed
    total = np.float32(0.0)
    for band in bands:
        y0 = band * BAND
        y1 = min(y0 + BAND, h)
        # Context rows y0 … y1 + 1 feed image rows y0 … y1 - 1; bands share two of them.
        c = y0
        while c < y1 + 2:
            end = c
            while end < y1 + 2 and not ready[end]:
                end += 1
            if end > c:
                _box_rows(qa, qb, ra, rb, S, warp, c, end, rowbox, diff)
                ready[c:end] = True
            c = end + 1
        n = (y1 - y0) * S
        best[:n] = np.inf
        for d in range(side * side):
            above = rowbox[d, y0 * S : y0 * S + n]
            level = rowbox[d, (y0 + 1) * S : (y0 + 1) * S + n]
            below = rowbox[d, (y0 + 2) * S : (y0 + 2) * S + n]
            for f in range(n):
                best[f] = min(best[f], above[f] + level[f] + below[f])
        for y in range(y1 - y0):
            for x in range(PAD, PAD + w):
                total += best[y * S + x]
        if total > limit:
            return np.inf
    return float(total)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _idm_kernel(
    qf: NDArray[np.float32],
    rf: NDArray[np.float32],
    cand: NDArray[np.int64],
    warp: int,
    h: int,
    w: int,
    keep: int,
    bound: NDArray[np.float32],
    lanes: int,
) -> NDArray[np.float32]:
    """IDM from each query to its candidate references, abandoning hopeless ones; see
    :func:`idm_rerank`.

    For each displacement d the squared channel difference D_d(x) = Σ_c (Q_c(x) − R_c(x + d))²
    is box-filtered 3×3, which gives the patch cost of every query pixel at once; the per-pixel
    minimum over the displacements follows. The image is walked in bands of :data:`BAND` rows,
    the query's most inked first; each band's minima are added to the candidate's running
    total, and a candidate whose total passes the query's limit stops there, reported as +inf.
    The limit is ``bound[i]``, or once a lane has finished ``keep`` candidates its keep-th
    smallest distance, if that is smaller. The summation order is the same with or without a
    limit, so finished distances do not depend on it.

    Maps are walked as flat rows of the padded width S, so each loop is one long contiguous run
    that LLVM vectorises (row-by-row loops of 30 were 1.6× slower); the few columns that wrap
    into the next row only feed outputs outside the frame, which the sums skip. The box filter
    along rows is kept per displacement for the whole candidate, so bands never recompute the
    context rows they share.
    """
    nq, n_cand = cand.shape
    S = qf.shape[3]
    q_flat = qf.reshape(qf.shape[0], 2, -1)  # (n_query, 2, S·S)
    r_flat = rf.reshape(rf.shape[0], 2, -1)  # (n_ref, 2, S·S)
    first = (PAD - 1) * S
    n_ctx = (h + 2) * S
    out = np.empty((nq, n_cand), np.float32)
    # Each lane's keep-th smallest so far: none is below the query's true keep-th smallest, so
    # a lane may stop a candidate on any of them. Lanes read each other's while they are
    # written: a value read late is only larger, still a safe limit.
    shared = np.full((nq, lanes), np.inf, np.float32)
    # One task per (query, lane): a lane takes every lanes-th candidate, so a single drawing
    # uses every core.
    for task in numba.prange(nq * lanes):
        i = task // lanes
        lane = task - i * lanes
        nearest = np.full(max(keep, 1), np.inf, np.float32)  # ascending, this lane's best
        rowbox = np.zeros(((2 * warp + 1) ** 2, n_ctx), np.float32)
        diff = np.zeros(n_ctx, np.float32)
        best = np.empty(BAND * S, np.float32)
        ready = np.zeros(h + 2, np.bool_)
        qa = q_flat[i, 0, first : first + n_ctx]
        qb = q_flat[i, 1, first : first + n_ctx]
        bands = _band_order(qa, qb, S, h, w)
        for j in range(lane, n_cand, lanes):
            ref = cand[i, j]
            limit = min(bound[i], shared[i].min())
            ra, rb = r_flat[ref, 0], r_flat[ref, 1]
            total = _idm_one(qa, qb, ra, rb, S, warp, h, w, bands, limit, rowbox, diff, best, ready)
            out[i, j] = total
            if keep > 0 and total < nearest[keep - 1]:
                at = keep - 1
                while at > 0 and nearest[at - 1] > total:
                    nearest[at] = nearest[at - 1]
                    at -= 1
                nearest[at] = total
                shared[i, lane] = nearest[keep - 1]
    return out


def idm_rerank(
    query_features: NDArray[np.float32],
    ref_features: NDArray[np.float32],
    candidates: ArrayLike,
    *,
    warp: int = 2,
    nearest: int | None = None,
    bound: ArrayLike | None = None,
) -> NDArray[np.float32]:
    """IDM distance from every query to each of its own candidate references.

    IDM is a sum of non-negative per-pixel costs, so a candidate whose partial sum already
    passes a query's ``nearest``-th smallest distance found so far (or its ``bound``) cannot be
    among that query's nearest: it stops early and comes back as +inf (early abandoning). Put
    the likeliest candidates first (a first stage's order) so the limit tightens soon. The
    distances that come back finite are exactly those computed without a limit.

    Parameters
    ----------
    query_features : ndarray (n_query, 2, H, W) from :func:`idm_features`
    ref_features : ndarray (n_ref, 2, H, W) from :func:`idm_features`
    candidates : int array (n_query, n_candidates) of row indices into ``ref_features``
    warp : int, default 2
        Largest displacement per axis (±2 px gives the 25 of Keysers et al.); 0 to MAX_WARP.
    nearest : int or None, default None
        How many of each query's smallest distances the caller needs; None: all of them.
    bound : array (n_query,) or None, default None
        Distances above ``bound[i]`` are not needed for query i either.

    Returns
    -------
    ndarray (n_query, n_candidates), float32: ``out[i, j] = IDM(query i → ref candidates[i, j])``,
    or +inf where that is above ``bound[i]`` or above query i's ``nearest``-th smallest (every
    distance up to and including that one is returned, ties too).
    """
    if query_features.shape[1:] != ref_features.shape[1:] or query_features.shape[1] != 2:
        raise ValueError(
            f"expected feature stacks (n, 2, H, W) of equal map size from idm_features, got "
            f"{query_features.shape} and {ref_features.shape}"
        )
    cand = candidate_indices(candidates, len(query_features), len(ref_features))
    if not 0 <= warp <= MAX_WARP:
        raise ValueError(f"warp must be between 0 and {MAX_WARP}, got {warp}")
    if nearest is not None and nearest < 1:
        raise ValueError(f"nearest must be at least 1 (or None for all), got {nearest}")
    limits = np.full(len(cand), np.inf, np.float32)
    if bound is not None:
        limits[:] = bound
    keep = 0 if nearest is None or nearest >= cand.shape[1] else nearest
    h = query_features.shape[2] - 2 * PAD
    w = query_features.shape[3] - 2 * PAD
    qf = np.ascontiguousarray(query_features, dtype=np.float32)
    rf = np.ascontiguousarray(ref_features, dtype=np.float32)
    # Fewer queries than cores: split each query's candidates into lanes, one per core.
    lanes = max(1, -(-numba.get_num_threads() // max(len(cand), 1)))
    return _idm_kernel(qf, rf, cand, warp, h, w, keep, limits, lanes)


def idm_distance(queries: ArrayLike, refs: ArrayLike, *, warp: int = 2) -> NDArray[np.float32]:
    """All-pairs IDM distances between two image stacks: ``(n_query, n_ref)`` float32.

    Convenient for small sets and tests; for re-ranking use :func:`idm_features` once and
    :func:`idm_rerank` on the candidates.

    >>> a = np.zeros((1, 28, 28), np.float32); a[0, 10:18, 13:15] = 1
    >>> float(idm_distance(a, a)[0, 0])
    0.0
    """
    qf = idm_features(queries)
    rf = idm_features(refs)
    cand = np.tile(np.arange(len(rf), dtype=np.int64), (len(qf), 1))  # (n_query, n_ref)
    return idm_rerank(qf, rf, cand, warp=warp)


def thicken(images: ArrayLike, share: float) -> NDArray[np.float32]:
    """Strokes drawn thicker: each pixel mixed with the brightest of itself and its four
    neighbours, ``(1 − share) · x + share · dilated``.

    IDM compares edges (Sobel channels), and a thin stroke's two edges sit closer together
    than a thick one's: ±2-pixel moves absorb a small difference in pen width, not a large
    one. MNIST's writers used many pens, so ``best`` (and since, ``accurate``) also tries its
    nearest references drawn thicker.

    Parameters
    ----------
    images : array (n, h, w), uint8 or float in [0, 1]
    share : float in [0, 1]; 0 returns the images, 1 the full one-pixel dilation

    Returns
    -------
    ndarray (n, h, w), float32 in [0, 1]

    >>> line = np.zeros((1, 5, 5), np.float32); line[0, :, 2] = 1
    >>> thicken(line, 0.5)[0, 2].tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    x = as_float_images(images)
    cross = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool)  # one image at a time
    dilated = ndimage.grey_dilation(x, footprint=cross, mode="constant", cval=0.0)
    return ((1 - share) * x + share * dilated).astype(np.float32)


def distort(images: ArrayLike, distortions: Mapping[str, Sequence[Any]]) -> NDArray[np.float32]:
    """Distorted copies of a stack, one block per distortion: the affine ones of
    :func:`~knn_digits.features.augment` (``angles``, ``shears``, ``scales``, ``shifts``) in
    its order, then one block per ``thicken`` share (:func:`thicken`).

    Returns
    -------
    ndarray (n · n_distortions, h, w), float32; the originals are not included.
    """
    affine = {key: value for key, value in distortions.items() if key != "thicken"}
    blocks = [augment(images, **affine)] if any(affine.values()) else []
    blocks += [thicken(images, share) for share in distortions.get("thicken", ())]
    if not blocks:
        raise ValueError(f"expected at least one distortion, got {dict(distortions)}")
    return np.concatenate(blocks)


def idm_candidates(
    queries: ArrayLike,
    references: NDArray[np.uint8] | NDArray[np.float32],
    candidates: ArrayLike,
    *,
    warp: int = 2,
    distortions: Mapping[str, Sequence[Any]] | None = None,
    n_distorted: int = 0,
    nearest: int | None = None,
    chunk_pairs: int = 2048,
) -> NDArray[np.float32]:
    """IDM distances from each query to its first-stage candidates, with distorted references.

    Parameters
    ----------
    queries : array (n_query, h, w), uint8 or float in [0, 1]
    references : array (n_ref, h, w), uint8 or float in [0, 1], the images ``candidates``
        index; only the candidates are converted, so uint8 training images need no float copy
    candidates : int array (n_query, n_candidates)
    warp : displacement range of IDM, see :func:`idm_rerank`
    distortions : what :func:`distort` takes: keyword arguments of
        :func:`~knn_digits.features.augment` (``angles``, ``shears``, ``scales``, ``shifts``)
        and ``thicken`` (shares, :func:`thicken`), e.g. ``{"angles": (8, -8)}``
    n_distorted : the distortions are tried on each query's ``n_distorted`` nearest candidates
        by plain IDM only — the far ones would not win anyway, and this keeps the cost at
        ``n_candidates + n_distortions · n_distorted`` comparisons per query
    nearest : how many of each query's smallest distances the caller needs (None: all). The
        others may come back +inf: plain IDM keeps only ``max(nearest, n_distorted)`` exact
        and abandons the rest early (:func:`idm_rerank`), and a distorted reference is
        abandoned once it can't beat the ``nearest``-th smallest plain distance.
    chunk_pairs : (query, candidate) pairs per batch; reference features are computed per
        batch for the candidates it needs (60,000 × 2 × 36 × 36 float32 maps would take
        620 MB): 2,048 pairs peak at ~100 MB and run as fast as 12,800 pairs, which peak at
        ~580 MB (64 MNIST digits, 1000 candidates each)

    Returns
    -------
    ndarray (n_query, n_candidates), float32: for each candidate the smallest IDM over its
    original and (for the nearest ``n_distorted``) its distorted versions. With ``nearest``,
    each query's ``nearest`` smallest (and any tied with them) are the same as without it;
    farther candidates may come back larger: +inf, or their distance without distortions.
    """
    query_images = as_float_images(queries)
    cand = candidate_indices(candidates, len(query_images))
    m = min(n_distorted, cand.shape[1]) if distortions and any(distortions.values()) else 0
    keep = None if nearest is None else max(nearest, m)
    out = np.empty(cand.shape, np.float32)
    chunk_size = max(1, chunk_pairs // max(1, cand.shape[1]))
    for start in range(0, len(cand), chunk_size):
        rows = slice(start, start + chunk_size)
        qf = idm_features(query_images[rows])  # (b, 2, H, W)
        uniq, inverse = np.unique(cand[rows], return_inverse=True)
        rf = idm_features(references[uniq])  # (u, 2, H, W), the candidates of this chunk
        dist = idm_rerank(qf, rf, inverse.reshape(-1, cand.shape[1]), warp=warp, nearest=keep)
        if distortions and m > 0:
            near = np.argsort(dist, axis=1, kind="stable")[:, :m]  # (b, m) positions
            uniq_near, inv_near = np.unique(
                np.take_along_axis(cand[rows], near, axis=1), return_inverse=True
            )
            variants = distort(references[uniq_near], distortions)  # (V·u, h, w)
            n_var = len(variants) // len(uniq_near)
            # Candidate v·u + i is distortion v of unique near candidate i.
            var_cand = inv_near.reshape(-1, 1, m) + len(uniq_near) * np.arange(n_var)[:, None]
            # A distorted reference only matters if it beats the nearest-th plain distance.
            bound = None
            if nearest is not None and nearest < cand.shape[1]:
                bound = np.partition(dist, nearest - 1, axis=1)[:, nearest - 1]
            var_dist = idm_rerank(
                qf, idm_features(variants), var_cand.reshape(len(qf), -1), warp=warp, bound=bound
            )
            best_var = var_dist.reshape(len(qf), n_var, m).min(axis=1)  # (b, m)
            np.put_along_axis(
                dist, near, np.minimum(np.take_along_axis(dist, near, axis=1), best_var), axis=1
            )
        out[rows] = dist
    return out
