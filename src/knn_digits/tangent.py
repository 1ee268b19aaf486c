"""Tangent distance: Euclidean distance that ignores small affine moves and stroke thickness.

A digit shifted, rotated, scaled, sheared or drawn a little thicker is still the same digit, but
its pixels — and so its L2 distance to the original — change a lot. Simard et al. (1993) fix
this to first order: the images a small transformation can reach from ``q`` lie, nearly, in the
plane ``q + T a`` spanned by ``q``'s tangent vectors ``T``; the one-sided tangent distance from
``q`` to ``r`` is the distance from ``r`` to that plane, whose square is
``‖e‖² − ‖Tᵀe‖²`` with ``e = q − r`` and the columns of ``T`` orthonormal.

The tangents come from the gradients ``Ix, Iy`` of ``q`` smoothed by a Gaussian (derivatives of
raw pixels are too rough to extrapolate): ``Ix`` and ``Iy`` (translations), ``x·Ix, y·Ix,
x·Iy, y·Iy`` (these four span rotation, scaling and the two hyperbolic shears) and
``Ix² + Iy²`` (thickening) — seven in all, orthonormalised per query.

It costs about as much as eight L2 distances, so it re-ranks the few nearest candidates of a
cheap first stage, where it cut the ``fast`` preset's validation error by about a quarter
(docs/validation.md). Only the query's tangents are used: the two-sided version needs a
14 × 14 solve per pair for little more.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import ArrayLike, NDArray

from knn_digits.features import as_float_images, blur
from knn_digits.neighbors import candidate_indices

__all__ = ["N_TANGENTS", "tangent_distance"]

#: Translations (2), the other affine moves (4) and thickening (1).
N_TANGENTS = 7
#: A tangent is dropped when Gram-Schmidt leaves less than this share of its squared length
#: (it is then a mix of the others; a blank image has no tangents at all).
_DEGENERATE = np.float32(1e-6)
#: The distance never falls below this fraction of ‖e‖², so only an identical image is at 0.
_FLOOR = np.float32(1e-6)


def tangent_distance(
    queries: ArrayLike,
    references: NDArray[np.float32],
    candidates: ArrayLike,
    *,
    sigma: float = 1.0,
) -> NDArray[np.float32]:
    """One-sided tangent distance from each query to each of its candidate references.

    Parameters
    ----------
    queries : images (n, h, w), uint8 or float in [0, 1], as the references were prepared
    references : float32 (n_ref, h·w), the flattened images ``candidates`` index
    candidates : int array (n, n_candidates)
    sigma : Gaussian sigma (pixels) of the smoothing the tangents are computed from

    Returns
    -------
    float32 (n, n_candidates): ``sqrt(‖e‖² − ‖Tᵀe‖²)``, at least ``1e-3·‖e‖``; 0 only for an
    identical image.
    """
    images = as_float_images(queries)
    n, h, w = images.shape
    refs = np.ascontiguousarray(references, dtype=np.float32)
    if refs.ndim != 2 or refs.shape[1] != h * w:
        raise ValueError(f"references must be (n_ref, {h * w}) flattened images, got {refs.shape}")
    cand = candidate_indices(candidates, n, len(refs))
    smooth = blur(images, sigma)
    out = np.empty(cand.shape, np.float32)
    _tangent_kernel(images.reshape(n, -1), smooth, refs, cand, out)
    return out


@numba.njit(fastmath=True, cache=True)
def _orthonormal_tangents(smooth: NDArray[np.float32], tangents: NDArray[np.float32]) -> int:
    """Fill rows of ``tangents`` (N_TANGENTS, h·w) with orthonormal tangents; returns how many.

    Gradients are central differences of the smoothed image, zero outside the frame.
    """
    h, w = smooth.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    for y in range(h):
        for x in range(w):
            left = smooth[y, x - 1] if x > 0 else 0.0
            right = smooth[y, x + 1] if x < w - 1 else 0.0
            up = smooth[y - 1, x] if y > 0 else 0.0
            down = smooth[y + 1, x] if y < h - 1 else 0.0
            gx, gy = 0.5 * (right - left), 0.5 * (down - up)
            # Centred coordinates keep the basis well-conditioned.
            u, v = (x - cx) / cx, (y - cy) / cy
            p = y * w + x
            tangents[0, p] = gx
            tangents[1, p] = gy
            tangents[2, p] = u * gx
            tangents[3, p] = v * gx
            tangents[4, p] = u * gy
            tangents[5, p] = v * gy
            tangents[6, p] = gx * gx + gy * gy
    kept = 0
    for t in range(N_TANGENTS):  # modified Gram-Schmidt, in place
        size = _dot(tangents[t], tangents[t])
        for s in range(kept):
            along = _dot(tangents[t], tangents[s])
            for p in range(h * w):
                tangents[t, p] -= along * tangents[s, p]
        left = _dot(tangents[t], tangents[t])
        if left > 1e-12 and left > _DEGENERATE * size:
            scale = 1.0 / np.sqrt(left)
            for p in range(h * w):
                tangents[kept, p] = tangents[t, p] * scale
            kept += 1
    return kept


@numba.njit(fastmath=True, cache=True)
def _dot(a: NDArray[np.float32], b: NDArray[np.float32]) -> np.float32:  # pragma: no cover
    total = np.float32(0.0)
    for p in range(a.shape[0]):
        total += a[p] * b[p]
    return total


#: Candidates whose pixels are fetched ahead of their turn: each is a random 3 KB row of a
#: reference set far larger than the cache, and waiting for it was half the kernel's time.
_FETCH_AHEAD = 4
_CACHE_LINE_FLOATS = 16


@intrinsic
def _prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Ask the CPU to start loading ``array[index]``'s cache line (LLVM's prefetch hint)."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer, int32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        hint = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch.p0i8",
        )
        # read, keep in all cache levels, data (not instructions)
        builder.call(hint, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@numba.njit(fastmath=True, cache=True)
def _fetch(refs: NDArray[np.float32], row: int) -> None:  # pragma: no cover - compiled
    """Prefetch every cache line of one reference row."""
    flat = refs.reshape(-1)
    start = row * refs.shape[1]
    for offset in range(0, refs.shape[1], _CACHE_LINE_FLOATS):
        _prefetch(flat, start + offset)  # type: ignore[call-arg]  # a numba intrinsic


@numba.njit(parallel=True, fastmath=True, cache=True)
def _tangent_kernel(
    queries: NDArray[np.float32],
    smooth: NDArray[np.float32],
    refs: NDArray[np.float32],
    cand: NDArray[np.int64],
    out: NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """out[i, j] = one-sided tangent distance from query i to reference cand[i, j].

    One pass over the pixels per candidate sums ‖e‖² and all seven projections at once (the
    tangents a query lacks are zero), while the next candidates' pixels are fetched ahead.
    """
    n, n_cand = cand.shape
    size = queries.shape[1]
    for i in numba.prange(n):
        for j in range(min(_FETCH_AHEAD, n_cand)):
            _fetch(refs, cand[i, j])
        tangents = np.empty((N_TANGENTS, size), np.float32)
        kept = _orthonormal_tangents(smooth[i], tangents)
        tangents[kept:] = 0  # left over from Gram-Schmidt
        t0, t1, t2, t3, t4, t5, t6 = tangents
        query = queries[i]
        for j in range(n_cand):
            if j + _FETCH_AHEAD < n_cand:
                _fetch(refs, cand[i, j + _FETCH_AHEAD])
            ref = refs[cand[i, j]]
            total = a0 = a1 = a2 = a3 = a4 = a5 = a6 = np.float32(0.0)
            for p in range(size):
                e = query[p] - ref[p]
                total += e * e
                a0 += t0[p] * e
                a1 += t1[p] * e
                a2 += t2[p] * e
                a3 += t3[p] * e
                a4 += t4[p] * e
                a5 += t5[p] * e
                a6 += t6[p] * e
            projected = a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3 + a4 * a4 + a5 * a5 + a6 * a6
            out[i, j] = np.sqrt(max(total - projected, _FLOOR * total))
