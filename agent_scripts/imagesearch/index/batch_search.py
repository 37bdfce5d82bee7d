"""The top-k of many indexed images at once, equal to what the daemon answers for each alone.

Used to warm the result cache at publish (publish/cache_warm.py). A block of queries is scored
against every vector with one matrix product; each query then takes the daemon's own steps on
its row of scores: self-exclusion by content hash, the same LSH candidates (probed one query at
a time, exactly as the daemon does), and the exact re-score of the shortlist
(imagesearch.index.shortlist_top_k), so the top-k is the daemon's bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from imagesearch.index.vectors import scores_of, shortlist_top_k

DEFAULT_BATCH = 256  # queries per matrix product: 256 x 30,000 float32 scores = 30 MB


def _query_vector(vector: np.ndarray) -> np.ndarray:
    # The same steps as OpenIndex.search_vector, so the query is the same float32 vector.
    q = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(q))
    return q / norm if norm > 0 else q


def distinct_images(index: Any) -> list[tuple[str, int]]:
    """(content hash, first row) of every distinct image in the index, in row order."""
    # The open index groups its rows by content hash in row order (its lookup table).
    return [(digest, rows[0]) for digest, rows in index._rows_by_hash.items()]


def top_matches(
    index: Any,
    *,
    k: int = 10,
    mode: str | None = None,
    hashes: list[str] | None = None,
    probes: int | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[str, list[dict]]]:
    """(content hash, [{"key", "score"}] best first) for each indexed image (or each of `hashes`
    that the index holds), as `index.search_vector(vector(row), k, mode=mode, probes=probes,
    exclude_hash=hash)` answers (`index`: an imagesearch.index.opened.OpenIndex).
    """
    mode = index.resolve_mode(mode)
    probes = index.default_probes if probes is None else probes
    rows_by_hash: dict[str, list[int]] = index._rows_by_hash
    vectors = index._vectors
    tables = index._tables
    n = index.count
    if hashes is None:
        wanted = distinct_images(index)
    else:
        wanted = [(h, rows_by_hash[h][0]) for h in dict.fromkeys(hashes) if h in rows_by_hash]
    total = len(wanted)
    for start in range(0, total, max(1, batch)):
        block = wanted[start : start + batch]
        queries = np.stack([_query_vector(index.vector(row)) for _, row in block])
        scores = np.asarray(scores_of(vectors, queries).T, dtype=np.float32)  # (block, n), any stored dtype
        for i, (digest, _) in enumerate(block):
            q = queries[i]
            exclude = np.array(rows_by_hash.get(digest, []), dtype=np.int64)
            if mode == "exact":
                approx = scores[i].copy()
                approx[exclude] = -np.inf
                rows, best = shortlist_top_k(vectors, q, approx, np.arange(n), k)
            else:
                cand = tables.candidates(q, n, probes)
                if len(exclude):
                    cand = np.setdiff1d(cand, exclude, assume_unique=False)
                if len(cand) == 0:
                    yield digest, []
                    continue
                rows, best = shortlist_top_k(vectors, q, scores[i, cand], cand, k)
            yield digest, [{"key": index.key(int(r)), "score": round(float(s), 6)}
                           for r, s in zip(rows, best, strict=True)]
        if progress is not None:
            progress(min(start + batch, total), total)
