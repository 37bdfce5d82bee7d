"""Index vectors: centred, L2-normalised, stored as float16, scored in float32 blocks; the exact scan.

Vectors are centred (the index mean is stored) and L2-normalised, so a dot product is a cosine.
They are stored as float16 (half the memory and disk of float32; scores change by about 1e-3) and
converted to float32 in cache-sized blocks where they are scored, since numpy has no float16 BLAS.
The exact scan here is the reference the LSH search (imagesearch.index.lsh) is measured against.
"""

from __future__ import annotations

import numpy as np

_SCAN_CHUNK = 8192  # rows per block of a batched scan or a normalisation (4 MiB of float16)
_SCORE_ROWS = 256  # rows converted and scored per block by one query's scan: 2 MiB of float32 stays in cache
# float16 -> float32 by moving the bits: the sign stays at bit 31 once the sign-extended int16 is shifted
# by 13 and bits 28-30 are cleared, and multiplying by 2**112 re-biases the exponent (15 -> 127).
_F16_KEEP = np.int32(-0x70000001)  # 0x8FFFFFFF: the sign bit and the 28 shifted bits below
_F16_REBIAS = np.float32(2.0**112)
VECTOR_DTYPE = np.float16  # how the index stores its search vectors


def as_float32(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rows as float32 (into `out` when given and float16), exactly, subnormals included.

    numpy 1.23 converts float16 one element at a time in software (about 54 million values a
    second here); three integer/float passes over the bits are about 10x faster. Infinities and
    NaN are not kept (index arrays are checked finite when built).
    """
    if block.dtype != np.float16:
        return np.asarray(block, dtype=np.float32)
    out = np.empty(block.shape, dtype=np.float32) if out is None else out[: len(block)]
    bits = out.view(np.int32)
    np.left_shift(block.view(np.int16), 13, out=bits, dtype=np.int32)
    np.bitwise_and(bits, _F16_KEEP, out=bits)
    out *= _F16_REBIAS
    return out


def centre_and_normalise(features: np.ndarray, mean: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """(features - mean) / norm as `dtype`, computed in float32 blocks; an all-zero row stays zero."""
    features = np.asarray(features)
    out = np.empty(features.shape, dtype=dtype)
    m = mean.astype(np.float32)
    flat_in, flat_out = features.reshape(-1, features.shape[-1]), out.reshape(-1, features.shape[-1])
    for start in range(0, len(flat_in), _SCAN_CHUNK):
        x = as_float32(flat_in[start : start + _SCAN_CHUNK]) - m
        norms = np.linalg.norm(x, axis=-1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        flat_out[start : start + _SCAN_CHUNK] = x / norms
    return out


def feature_mean(features: np.ndarray) -> np.ndarray:
    """The column mean in float64 (order-stable), returned as float32."""
    if len(features) == 0:
        return np.zeros(features.shape[1], dtype=np.float32)
    # Row after row in float64, as numpy's mean over axis 0 adds them, but one block at a time: a
    # float64 copy of a million 2048-d rows would take 16 GiB. The running sum leads each block so
    # the additions happen in the same order, and the result is bit for bit that of .mean(axis=0).
    total = np.zeros(features.shape[1], dtype=np.float64)
    for start in range(0, len(features), _SCAN_CHUNK):
        block = np.asarray(features[start : start + _SCAN_CHUNK], dtype=np.float64)
        total = np.add.reduce(np.concatenate([total[None, :], block]), axis=0)
    return (total / len(features)).astype(np.float32)


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (rows, scores), best first, ties broken by the lower row; -inf scores dropped."""
    keep = np.isfinite(scores)
    scores, rows = scores[keep], rows[keep]
    if len(scores) > k:
        # Everything tied with the k-th best stays in, so the tie-break below is exact.
        threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
        sel = scores >= threshold
        scores, rows = scores[sel], rows[sel]
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def scores_of(vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    """vectors @ q (or @ q.T for a (m, dim) batch) in float32, whatever the stored dtype."""
    if vectors.dtype == np.float32:
        return vectors @ q.T
    out = np.empty((len(vectors), *q.shape[:-1]), dtype=np.float32)
    buf = np.empty((min(_SCORE_ROWS, len(vectors)), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(vectors), _SCORE_ROWS):
        out[start : start + _SCORE_ROWS] = as_float32(vectors[start : start + _SCORE_ROWS], buf) @ q.T
    return out
# A float32 dot product of two unit vectors of 2048 dimensions is within about 1e-4 of the true
# cosine whatever the BLAS kernel (typically 1e-6); rows within SHORTLIST_MARGIN of the k-th best
# approximate score are re-scored exactly, so the final top-k never depends on the kernel.
SHORTLIST_MARGIN = 1e-3


def rescore(vectors: np.ndarray, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosines of `rows` with `q` in float64, one row at a time in a fixed order.

    Elementwise products summed along each row give the same bits for a row whatever else is
    scored with it, so one query searched alone (the daemon) and many at once (the cache warm-up,
    imagesearch.index.batch_search) agree exactly; BLAS products do not (their kernels differ by shape).
    """
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float64)
    block = np.asarray(vectors[rows], dtype=np.float64)
    return np.sum(block * np.asarray(q, dtype=np.float64), axis=1)


def shortlist_top_k(vectors: np.ndarray, q: np.ndarray, approx: np.ndarray, rows: np.ndarray,
                    k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k among `rows` given their approximate (float32 BLAS) scores `approx`."""
    keep = np.isfinite(approx)
    approx, rows = approx[keep], rows[keep]
    if len(approx) > k:
        kth = np.partition(approx, len(approx) - k)[len(approx) - k]
        near = approx >= kth - SHORTLIST_MARGIN
        rows = rows[near]
    return top_k(rescore(vectors, q, rows), rows, k)


def exact_search(
    vectors: np.ndarray, q: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k: one matrix-vector product over every vector, the best re-scored."""
    scores = scores_of(vectors, q)
    if exclude is not None and len(exclude):
        scores[exclude] = -np.inf
    return shortlist_top_k(vectors, q, scores, np.arange(len(scores)), k)


def exact_batch(vectors: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
                ) -> list[np.ndarray]:
    """Exact top-k rows of many queries in one pass over the vectors; query i skips row exclude[i]."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_r = np.zeros((len(queries), 0), dtype=np.int64)
    q32 = as_float32(np.asarray(queries))
    buf = np.empty((min(_SCAN_CHUNK, len(vectors)), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(vectors), _SCAN_CHUNK):
        s = as_float32(vectors[start : start + _SCAN_CHUNK], buf) @ q32.T  # (chunk, m)
        if exclude is not None:
            hit = (exclude >= start) & (exclude < start + len(s))
            s[exclude[hit] - start, np.flatnonzero(hit)] = -np.inf
        rows = np.broadcast_to(np.arange(start, start + len(s))[None, :], (len(q32), len(s)))
        best_s = np.concatenate([best_s, s.T], axis=1)
        best_r = np.concatenate([best_r, rows], axis=1)
        if best_s.shape[1] > 4 * k:  # keep a margin of candidates so ties resolve like top_k
            keep = np.argpartition(-best_s, 4 * k, axis=1)[:, : 4 * k]
            best_s = np.take_along_axis(best_s, keep, axis=1)
            best_r = np.take_along_axis(best_r, keep, axis=1)
    return [top_k(s, r, k)[0] for s, r in zip(best_s, best_r, strict=True)]
