"""The cost of `imagesearch duplicates` (and of measuring the score bands) at 30,000 and 1,000,000 images.

Synthetic clustered 2048-d features (bench/synthetic.py, no model), 1% of them near-copies of
another row (the row plus small noise), centred and normalised into float16 vectors as the index
stores them, memory-mapped from disk like an opened index. Each size runs in its own process so
its peak RSS (getrusage) is its own. The finder is the engine's: imagesearch.ops.duplicates over the
batch search (imagesearch.index.batch_search.top_matches, exact mode). Where the whole run would take
hours (a million images: every image is scored against every other), `--queries` images are
searched and the time is extrapolated linearly (each query costs the same full scan); the report
says which.

Usage: python bench/duplicates_scale.py [--sizes 30000,1000000] [--queries 0,512] [--work DIR]
       (--queries 0: every image)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import Generator, Shape  # noqa: E402

COPY_FRACTION = 0.01
COPY_NOISE = 0.05  # relative to a row's own norm: a near-copy, not the same bytes
CHUNK = 20_000
NEAR_DUPLICATE = 0.9


class SyntheticIndex:
    """What imagesearch.index.batch_search reads of an OpenIndex, over memory-mapped synthetic vectors."""

    def __init__(self, vectors: np.ndarray, bands: dict) -> None:
        self._vectors = vectors
        self.count = len(vectors)
        self._rows_by_hash = {f"{i:064x}": [i] for i in range(self.count)}
        self._tables = None
        self.default_probes = 0
        self.version = "synthetic"
        self.manifest = {"bands": bands}

    def resolve_mode(self, mode: str | None) -> str:
        return mode or "exact"

    def key(self, row: int) -> str:
        return f"gallery/a{row // 100_000:02d}/img{row:07d}.jpg"

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self._vectors[row], dtype=np.float32)


def make_vectors(n: int, path: Path) -> np.ndarray:
    """n centred unit float16 vectors on disk, COPY_FRACTION of them near-copies of earlier rows."""
    from imagesearch.index.vectors import centre_and_normalise

    gen = Generator(Shape())
    mean = np.asarray(gen.rows(0, min(n, CHUNK))[0], dtype=np.float32).mean(axis=0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, gen.dim))
    rng = np.random.default_rng(1)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        feats = np.asarray(gen.rows(start, stop)[0], dtype=np.float32)
        copies = np.flatnonzero(rng.random(stop - start) < COPY_FRACTION)
        copies = copies[copies > 0]
        originals = rng.integers(0, copies)  # an earlier row of the same chunk
        noise = rng.standard_normal((len(copies), gen.dim)).astype(np.float32)
        scale = np.linalg.norm(feats[originals], axis=1, keepdims=True) / np.sqrt(gen.dim)
        feats[copies] = np.maximum(feats[originals] + COPY_NOISE * scale * noise, 0)
        out[start:stop] = centre_and_normalise(feats, mean, np.float16)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def run_one(n: int, queries: int, work: Path) -> dict:
    """Build the vectors, measure bands and the finder; the figures as a dict (runs in a child)."""
    from imagesearch.index.batch_search import top_matches
    from imagesearch.index.calibration import measure_bands
    from imagesearch.ops.duplicates import group_keys

    t0 = time.perf_counter()
    vectors = make_vectors(n, work / f"vectors-{n}.npy")
    make_s = time.perf_counter() - t0
    hashes = [f"{i:064x}" for i in range(n)]
    t0 = time.perf_counter()
    # The near-duplicate band as a labelled set would set it (kept), the rest measured here.
    bands = measure_bands(vectors, hashes, np.zeros(vectors.shape[1], dtype=np.float32),
                          kept={"near_duplicate": NEAR_DUPLICATE, "near_duplicate_from": {"method": "bench"}})
    bands_s = time.perf_counter() - t0
    index = SyntheticIndex(vectors, bands)
    asked = n if queries <= 0 or queries >= n else queries
    wanted = hashes[:asked] if asked < n else None
    batch = 256 if n <= 100_000 else 64  # 64 x 1M float32 scores = 256 MB per block
    t0 = time.perf_counter()
    neighbours = [([index.key(int(d, 16))], m) for d, m in top_matches(index, k=10, mode="exact",
                                                                         hashes=wanted, batch=batch)]
    search_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = group_keys(neighbours, bands["near_duplicate"])
    group_s = time.perf_counter() - t0
    return {
        "images": n, "queries": asked, "extrapolated": asked < n, "batch": batch,
        "vectors_mib": round(vectors.nbytes / 2**20), "make_vectors_s": round(make_s, 1),
        "bands_s": round(bands_s, 2), "near_duplicate": bands["near_duplicate"],
        "search_s": round(search_s, 1), "search_ms_per_image": round(1000 * search_s / asked, 2),
        "finder_s": round(search_s * n / asked + group_s * n / asked, 1),
        "group_s": round(group_s, 3), "groups": len(groups),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,1000000")
    parser.add_argument("--queries", default="0,512", help="per size: images searched (0: all)")
    parser.add_argument("--work", default=None, help="folder for the vectors (default: a temporary one)")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="dup-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(run_one(args.child[0], args.child[1], work)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    queries = [int(q) for q in args.queries.split(",")]
    results = []
    try:
        for n, q in zip(sizes, queries + [queries[-1]] * (len(sizes) - len(queries)), strict=False):
            out = subprocess.run([sys.executable, __file__, "--work", str(work), "--child", str(n), str(q)],
                                 check=True, capture_output=True, text=True, env=os.environ)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr)
            (work / f"vectors-{n}.npy").unlink(missing_ok=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("| images | searched | finder time | per image | bands (calibration) | peak RSS | vectors |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        note = " (extrapolated)" if r["extrapolated"] else ""
        print(f"| {r['images']:,} | {r['queries']:,} | {r['finder_s']:,} s{note} | "
              f"{r['search_ms_per_image']} ms | {r['bands_s']} s | {r['peak_rss_mib']:,} MiB | "
              f"{r['vectors_mib']:,} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
