"""Section 4: LSH recall@k against exact for several settings, beside hnswlib on the same vectors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import hnswlib
import numpy as np
import plots
from imagesearch.index.lsh import DEFAULT_PROBES, LshBuildParams, LshTables, default_probes, lsh_search
from imagesearch.index.vectors import exact_search
from report import Section, figure, table
from stats import summarize

KS = (1, 5, 10)


@dataclass(frozen=True)
class LshSetting:
    """One LSH configuration measured: the build-time parameters plus the query-time probe count."""

    tables: int = 16
    bits: int = 0
    probes: int = DEFAULT_PROBES
    seed: int = 0

    @property
    def build(self) -> LshBuildParams:
        """The build-time part."""
        return LshBuildParams(tables=self.tables, bits=self.bits, seed=self.seed)

    @classmethod
    def from_manifest(cls, manifest: dict) -> LshSetting:
        """An index's own setting: its build parameters and its default probe count."""
        b = LshBuildParams.from_manifest(manifest)
        return cls(tables=b.tables, bits=b.bits, probes=default_probes(manifest), seed=b.seed)


@dataclass
class Method:
    """One search method's recall@k, fraction of vectors scored, per-query latency and build time."""

    name: str
    recall: dict[int, float]
    fraction_scored: float | None
    ms: list[float]
    build_s: float
    note: str = ""


@dataclass
class RecallResult:
    """Every method measured on the same held-out queries against the same base vectors."""

    count: int
    queries: int
    dim: int
    exact_ms: list[float]
    methods: list[Method] = field(default_factory=list)


def split(vectors: np.ndarray, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(base, held-out queries): query rows are left out of every index and of the exact truth."""
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(len(vectors), size=queries, replace=False))
    base = np.setdiff1d(np.arange(len(vectors)), held)
    return (np.ascontiguousarray(vectors[base], dtype=np.float32),
            np.ascontiguousarray(vectors[held], dtype=np.float32))


def exact_truth(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[list[np.ndarray], list[float]]:
    """The engine's exact top-k of every query and the milliseconds each took."""
    truth, ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        rows, _ = exact_search(base, q, k)
        ms.append((time.perf_counter() - t0) * 1000)
        truth.append(rows)
    return truth, ms


def recall_at(found: Sequence[np.ndarray], truth: Sequence[np.ndarray], k: int) -> float:
    """Mean |found[:k] & truth[:k]| / k over queries."""
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (k * len(truth))


def measure_lsh(base: np.ndarray, queries: np.ndarray, truth: list[np.ndarray], params: LshSetting) -> Method:
    """Build the engine's LSH tables with `params` and search every query through them."""
    t0 = time.perf_counter()
    tables = LshTables.build(base, params.build)
    build_s = time.perf_counter() - t0
    found, ms, scored = [], [], 0
    for q in queries:
        t1 = time.perf_counter()
        rows, _, m = lsh_search(base, tables, q, max(KS), probes=params.probes)
        ms.append((time.perf_counter() - t1) * 1000)
        found.append(rows)
        scored += m
    bits = params.build.resolved_bits(len(base))
    return Method(f"LSH L={params.tables} b={bits} P={params.probes}",
                  {k: recall_at(found, truth, k) for k in KS}, scored / (len(queries) * len(base)), ms,
                  build_s)


def measure_hnsw(base: np.ndarray, queries: np.ndarray, truth: list[np.ndarray], ef_values: Sequence[int],
                 m: int = 16, ef_construction: int = 200) -> list[Method]:
    """hnswlib (inner product on the same normalised vectors, one thread) at several ef settings."""
    t0 = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=m, ef_construction=ef_construction, random_seed=0)
    index.add_items(base, np.arange(len(base)))
    build_s = time.perf_counter() - t0
    index.set_num_threads(1)  # queries like our daemon's: one query on one core
    out = []
    for ef in ef_values:
        index.set_ef(max(ef, max(KS)))
        found, ms = [], []
        for q in queries:
            t1 = time.perf_counter()
            labels, _ = index.knn_query(q, k=max(KS))
            ms.append((time.perf_counter() - t1) * 1000)
            found.append(labels[0].astype(np.int64))
        out.append(Method(f"hnswlib M={m} ef={ef}", {k: recall_at(found, truth, k) for k in KS}, None, ms,
                          build_s, note="graph index; scores only the nodes it visits"))
    return out


def measure(vectors: np.ndarray, queries: int, settings: Sequence[LshSetting],
            hnsw_ef: Sequence[int] = (16, 64, 128)) -> RecallResult:
    """All methods on one split of the index's own (centred, normalised) vectors."""
    base, held = split(vectors, queries)
    truth, exact_ms = exact_truth(base, held, max(KS))
    result = RecallResult(len(base), len(held), base.shape[1], exact_ms)
    result.methods += [measure_lsh(base, held, truth, p) for p in settings]
    result.methods += measure_hnsw(base, held, truth, hnsw_ef)
    return result


def default_settings(base: LshSetting | None = None) -> list[LshSetting]:
    """The engine's default and a few neighbours of it (fewer/more tables, probes and bits)."""
    d = base or LshSetting()
    return [d,
            LshSetting(tables=max(1, d.tables // 2), bits=d.bits, probes=d.probes, seed=d.seed),
            LshSetting(tables=d.tables * 2, bits=d.bits, probes=d.probes, seed=d.seed),
            LshSetting(tables=d.tables, bits=d.bits, probes=max(1, d.probes // 4), seed=d.seed),
            LshSetting(tables=d.tables, bits=d.bits, probes=d.probes * 4, seed=d.seed)]


def section(result: RecallResult, plot_dir: Path, rel_dir: str) -> Section:
    """The markdown section and its recall-against-latency plot."""
    exact = summarize(result.exact_ms)
    rows = [["exact (one matrix product)", "1.000", "1.000", "1.000", "1.000", exact.fmt("ms", 3), "-"]]
    points = {"exact": (exact.p50, 1.0)}
    for m in result.methods:
        frac = f"{m.fraction_scored:.3f}" if m.fraction_scored is not None else "n/a"
        latency = summarize(m.ms)
        rows.append([m.name, *(f"{m.recall[k]:.3f}" for k in KS), frac, latency.fmt("ms", 3),
                     f"{m.build_s * 1000:,.0f} ms"])
        points[m.name] = (latency.p50, m.recall[10])
    plots.scatter(plot_dir / "recall.png", points, "median ms per query (log)", "recall@10",
                  "Recall@10 against query latency, same vectors", logx=True)
    body = "\n\n".join([
        f"{result.queries} held-out queries against {result.count:,} base vectors ({result.dim}-d, centred "
        "and L2-normalised as the index stores them; the queries are left out of every index and of the "
        "exact truth). L = tables, b = bits per table, P = buckets probed per table; LSH candidates are "
        "re-ranked by exact cosine, so its recall loss is only neighbours never scored. hnswlib runs on one "
        "thread per query (its build uses every core) with inner product on the same vectors. Latency is "
        "one query at a time, in process.",
        table(["method", "recall@1", "recall@5", "recall@10", "fraction scored", "latency per query",
               "build"], rows),
        figure(f"{rel_dir}/recall.png", "recall against latency"),
    ])
    return Section("LSH recall against exact, and hnswlib", body)
