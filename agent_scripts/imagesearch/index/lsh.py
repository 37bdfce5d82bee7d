"""Random-hyperplane LSH over the index vectors: tables, query-directed multi-probe, exact re-ranking.

Works on the vector layout of imagesearch.index.vectors: centred and normalised, so a random
hyperplane through the origin splits the data instead of leaving it all on one side.
"""

from __future__ import annotations

import heapq
import math
import statistics
from dataclasses import asdict, dataclass

import numpy as np

from imagesearch.index.vectors import as_float32, shortlist_top_k

_CHUNK = 4096  # rows hashed per matrix product while building tables; bounds temporary memory
_RERANK_CHUNK = 1024  # rows gathered per block when re-ranking (measured 2x faster than one gather)

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
