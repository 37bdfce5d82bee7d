"""Random-hyperplane LSH with multi-probe and exact cosine re-ranking, and the exact reference.

Vectors are centred (the index mean is stored) and L2-normalised, so a dot product is a cosine and
a random hyperplane through the origin splits the data instead of leaving it all on one side.
They are stored as float16 (half the memory and disk of float32; scores change by about 1e-3) and
converted to float32 in cache-sized blocks where they are scored, since numpy has no float16 BLAS.
Over 300 lines on purpose: the LSH build and probe, the exact scan and the float16 block conversion
all depend on one vector layout, which keeps its one home here.
"""

from __future__ import annotations

import heapq
import math
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

_CHUNK = 4096  # rows hashed per matrix product while building tables; bounds temporary memory
_RERANK_CHUNK = 1024  # rows gathered per block when re-ranking (measured 2x faster than one gather)
_SCAN_CHUNK = 8192  # rows per block of a batched scan or a normalisation (4 MiB of float16)
_SCORE_ROWS = 256  # rows converted and scored per block by one query's scan: 2 MiB of float32 stays in cache
# float16 -> float32 by moving the bits: the sign stays at bit 31 once the sign-extended int16 is shifted
# by 13 and bits 28-30 are cleared, and multiplying by 2**112 re-biases the exponent (15 -> 127).
_F16_KEEP = np.int32(-0x70000001)  # 0x8FFFFFFF: the sign bit and the 28 shifted bits below
_F16_REBIAS = np.float32(2.0**112)
VECTOR_DTYPE = np.float16  # how the index stores its search vectors


DEFAULT_PROBES = 32


@dataclass(frozen=True)
class LshBuildParams:
    """What the LSH tables are built with: tables, bits per table (0: chosen from the count), seed.

    The probe count is a query-time knob (`probes=` per search), so changing it never needs a
    rebuild; the manifest records a default (`lsh.probes`, read by `default_probes`).
    Defaults measured on the 30,000-image sample collection (docs/engine.md, docs/benchmarks.md):
    16 tables of 18 bits with 32 probes give recall@10 0.97 scoring 10-17% of the vectors.
    """

    tables: int = 16
    bits: int = 0
    seed: int = 0

    def resolved_bits(self, count: int) -> int:
        """Bits per table: as given, or round(log2(count)) + 3 (18 at 30,000), within 4..24."""
        if self.bits:
            return self.bits
        return int(min(max(round(math.log2(max(count, 2))) + 3, 4), 24))

    @classmethod
    def from_manifest(cls, manifest: dict) -> LshBuildParams:
        """The parameters an index was built with (bits as requested, so a rebuild resolves alike)."""
        lsh = manifest["lsh"]
        return cls(tables=lsh["tables"], bits=lsh.get("bits_requested", lsh["bits"]), seed=lsh["seed"])

    def to_json(self, count: int, *, default_probes: int) -> dict:
        """The manifest form: bits resolved for `count` vectors, as requested, and the default probes."""
        d = asdict(self)
        d.update(bits=self.resolved_bits(count), bits_requested=self.bits, probes=int(default_probes))
        return d


def default_probes(manifest: dict) -> int:
    """The probe count a query uses when it names none: the one recorded at build time."""
    return int(manifest["lsh"]["probes"])


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
    imagesearch.batch_search) agree exactly; BLAS products do not (their kernels differ by shape).
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


def probe_template(bits: int, probes: int) -> np.ndarray:
    """The multi-probe perturbation sets (probes, bits) as flags over margin ranks, best first.

    Query-directed multi-probe (Lv et al., VLDB 2007): flipping the bits whose projections lie
    nearest zero reaches the buckets a near neighbour most likely fell into. Sets of margin ranks
    are enumerated with the shift/expand heap in order of the expected sum of squared margins
    (half-normal order statistics), so the sequence is computed once per index, not per query.
    Row 0 is the empty set: the query's own bucket.
    """
    nd = statistics.NormalDist()
    expected = [nd.inv_cdf(0.5 + 0.5 * (j + 1) / (bits + 1)) ** 2 for j in range(bits)]
    sets: list[tuple[int, ...]] = [()]
    heap = [(expected[0], (0,))] if bits else []
    while heap and len(sets) < probes:
        score, a = heapq.heappop(heap)
        sets.append(a)
        last = a[-1]
        if last + 1 < bits:
            heapq.heappush(heap, (score - expected[last] + expected[last + 1], a[:-1] + (last + 1,)))
            heapq.heappush(heap, (score + expected[last + 1], a + (last + 1,)))
    template = np.zeros((len(sets), bits), dtype=np.uint64)
    for i, a in enumerate(sets):
        template[i, list(a)] = 1
    return template


class LshTables:
    """Hyperplanes plus the bucket codes of every row in every table, sorted, with their rows.

    A code carries its table number above the hash bits, so the (tables, n) code array read
    row-major is one sorted sequence and one searchsorted call finds every probed bucket.
    """

    def __init__(self, planes: np.ndarray, codes: np.ndarray, order: np.ndarray) -> None:
        self.planes = planes  # (tables, bits, dim) float32
        self.codes = codes  # (tables, n) uint64: table << bits | hash, sorted within each table
        self.order = order  # (tables, n) int32: order[t, i] is the row whose code is codes[t, i]
        self.tables, self.bits, self.dim = planes.shape
        self._flat = np.ascontiguousarray(planes.reshape(-1, self.dim))
        self._weights = np.uint64(1) << np.arange(self.bits, dtype=np.uint64)
        self._table_ids = np.arange(self.tables, dtype=np.uint64) << np.uint64(self.bits)
        # One perturbation template per probe count asked for; computing one twice is harmless.
        self._templates: dict[int, np.ndarray] = {}
        self._codes_flat = codes.reshape(-1)
        self._order_flat = order.reshape(-1)

    @staticmethod
    def make_planes(params: LshBuildParams, count: int, dim: int) -> np.ndarray:
        """Gaussian hyperplanes, a pure function of the seed and shape."""
        rng = np.random.default_rng(params.seed)
        return rng.standard_normal((params.tables, params.resolved_bits(count), dim)).astype(np.float32)

    @classmethod
    def build(
        cls, vectors: np.ndarray, params: LshBuildParams, planes: np.ndarray | None = None
    ) -> LshTables:
        """Hash every vector into every table."""
        n, dim = vectors.shape
        if planes is None:
            planes = cls.make_planes(params, n, dim)
        tables, bits, _ = planes.shape
        flat = planes.reshape(-1, dim)
        weights = np.uint64(1) << np.arange(bits, dtype=np.uint64)
        codes = np.empty((tables, n), dtype=np.uint64)
        for start in range(0, n, _CHUNK):
            proj = as_float32(vectors[start : start + _CHUNK]) @ flat.T
            b = (proj.reshape(-1, tables, bits) > 0).astype(np.uint64)
            codes[:, start : start + _CHUNK] = (b * weights).sum(axis=2).T
        codes |= (np.arange(tables, dtype=np.uint64) << np.uint64(bits))[:, None]
        order = np.argsort(codes, axis=1, kind="stable").astype(np.int32)
        sorted_codes = np.take_along_axis(codes, order.astype(np.int64), axis=1)
        return cls(planes, sorted_codes, order)

    def _template(self, probes: int) -> np.ndarray:
        if probes < 1:
            raise ValueError(f"probes must be at least 1, not {probes}")
        template = self._templates.get(probes)
        if template is None:
            template = self._templates[probes] = probe_template(self.bits, probes)
        return template

    def probe_codes(self, q: np.ndarray, probes: int) -> np.ndarray:
        """(tables, probes) codes to look up: the query's bucket first, then the likeliest neighbours."""
        proj = (self._flat @ q).reshape(self.tables, self.bits)
        base = ((proj > 0).astype(np.uint64) * self._weights).sum(axis=1) | self._table_ids
        rank = np.argsort(proj * proj, axis=1, kind="stable")  # bit positions, smallest margin first
        flips = (self._template(probes)[None, :, :] * self._weights[rank][:, None, :]).sum(axis=2)
        return base[:, None] ^ flips

    def candidates(self, q: np.ndarray, n: int, probes: int) -> np.ndarray:
        """Sorted unique rows sharing one of `probes` probed buckets per table with `q`."""
        probe = self.probe_codes(q, probes).reshape(-1)
        lo = np.searchsorted(self._codes_flat, probe, side="left")
        hi = np.searchsorted(self._codes_flat, probe, side="right")
        lens = hi - lo
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # Concatenate the ranges [lo, hi) without a Python loop.
        starts = np.repeat(lo - np.cumsum(lens) + lens, lens)
        positions = starts + np.arange(total)
        seen = np.zeros(n, dtype=bool)
        seen[self._order_flat[positions]] = True
        return np.flatnonzero(seen)


def lsh_search(
    vectors: np.ndarray,
    tables: LshTables,
    q: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
    *,
    probes: int = DEFAULT_PROBES,
) -> tuple[np.ndarray, np.ndarray, int]:
    """LSH top-k: candidates from the probed buckets re-ranked by exact cosine; also how many were scored."""
    cand = tables.candidates(q, len(vectors), probes)
    if exclude is not None and len(exclude):
        cand = np.setdiff1d(cand, exclude, assume_unique=False)
    if len(cand) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), 0
    scores = np.empty(len(cand), dtype=np.float32)
    buf = np.empty((min(_RERANK_CHUNK, len(cand)), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(cand), _RERANK_CHUNK):
        # Gathered in cache-sized blocks: scoring is bound by memory traffic, not arithmetic.
        block = cand[start : start + _RERANK_CHUNK]
        scores[start : start + len(block)] = as_float32(vectors[block], buf) @ q
    rows, best = shortlist_top_k(vectors, q, scores, cand, k)
    return rows, best, len(cand)


def measure_recall(
    vectors: np.ndarray,
    params: LshBuildParams,
    *,
    probes: int = DEFAULT_PROBES,
    k: int = 10,
    queries: int = 200,
    seed: int = 0,
    tables: LshTables | None = None,
) -> dict | None:
    """LSH recall@k against exact for sample rows, each left out of its own answer on both sides.

    `tables` are the index's own (built from `vectors` when not given), so no second copy of the
    vectors or the tables is made; the exact truth of every sample row comes from one batched scan.
    Returns None when there are too few vectors to sample meaningfully.
    """
    n = len(vectors)
    nq = min(queries, n // 10)
    if nq < 2 or n - 1 <= k:
        return None
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, size=nq, replace=False))
    if tables is None:
        tables = LshTables.build(vectors, params)
    sample = as_float32(vectors[held])
    truth = exact_batch(vectors, sample, k, held)
    hits, scored, t_lsh = 0, 0, []
    for row, q, want in zip(held, sample, truth, strict=True):
        t0 = time.perf_counter()
        got, _, m = lsh_search(vectors, tables, q, k, np.array([row]), probes=probes)
        t_lsh.append(time.perf_counter() - t0)
        hits += len(set(want.tolist()) & set(got.tolist()))
        scored += m
    t_exact = []
    for row, q in list(zip(held, sample, strict=True))[:5]:  # a full scan each: a few suffice
        t0 = time.perf_counter()
        exact_search(vectors, q, k, np.array([row]))
        t_exact.append(time.perf_counter() - t0)
    return {
        "k": k,
        "queries": int(nq),
        "recall": round(hits / (nq * min(k, n - 1)), 4),
        "fraction_scored": round(scored / (nq * (n - 1)), 4),
        # Informative only (timing depends on the machine's load); the default mode is not chosen from it.
        "median_ms": {
            "exact": round(float(np.median(t_exact)) * 1e3, 3),
            "lsh": round(float(np.median(t_lsh)) * 1e3, 3),
        },
    }


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
