"""LSH recall@k against the exact scan, measured at build time and written into the manifest."""

from __future__ import annotations

import time

import numpy as np

from imagesearch.index.lsh import DEFAULT_PROBES, LshBuildParams, LshTables, lsh_search
from imagesearch.index.vectors import as_float32, exact_batch, exact_search


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
