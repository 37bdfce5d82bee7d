"""Engine measurements for docs/engine.md (not run by the tests).

  python bench/engine_measure.py sizes --images DIR [--per-album 50] [--sizes 32,64,112,224]
      retrieval precision@10 by album and throughput per featurizer input size
  python bench/engine_measure.py lsh-grid --index DIR [--tables ...] [--bits ...] [--probes ...]
      LSH recall@10 / fraction scored / latency over a parameter grid, on an index's stored vectors
  python bench/engine_measure.py full --images DIR --out DIR [--weights seed:0] [--size PX]
      build time, index load time, recall, query latency exact vs LSH, peak RSS (model + index)

Each prints a JSON summary (and a markdown table) on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time

import numpy as np


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def _knn(vectors: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows by cosine (rows are L2-normalised), nearest first."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def precision_at_k(vectors: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each image's k nearest others (cosine) that share its album."""
    return float((labels[_knn(vectors, k)] == labels[:, None]).mean())


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean overlap of the k-NN sets computed in two feature spaces for the same images."""
    pairs = zip(_knn(a, k), _knn(b, k), strict=True)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in pairs]))


def cmd_sizes(args: argparse.Namespace) -> dict:
    from imagesearch import settings
    from imagesearch.index.vectors import centre_and_normalise, feature_mean
    from imagesearch.model.features import Featurizer
    from imagesearch.model.images import decode_image
    from imagesearch.model.sources import local_sources

    sources, _ = local_sources(args.images)
    by_album: dict[str, list] = {}
    for s in sources:
        by_album.setdefault(s.key.split("/")[1], []).append(s)
    picked = [s for album in sorted(by_album) for s in by_album[album][: args.per_album]]
    labels = np.array([s.key.split("/")[1] for s in picked])
    max_pixels = settings.load().max_pixels
    images = [decode_image(s.read(), max_pixels=max_pixels) for s in picked]
    rows, spaces = [], {}
    for size in _ints(args.sizes):
        f = Featurizer.load(args.weights, size=size, batch_size=64)
        x = np.stack([f.preprocess(im) for im in images])
        f.featurize_arrays(x[:64])  # compile the graph outside the timing
        t0 = time.perf_counter()
        feats = f.featurize_arrays(x)
        dt = time.perf_counter() - t0
        vec = centre_and_normalise(feats, feature_mean(feats))
        spaces[size] = vec
        rows.append(
            {
                "size": size,
                "images": len(images),
                "images_per_s": round(len(images) / dt, 1),
                "precision_at_10": round(precision_at_k(vec, labels), 4),
                "minutes_for_30k": round(30000 / (len(images) / dt) / 60, 1),
            }
        )
    ref = max(spaces)
    for r in rows:
        r[f"knn_overlap_vs_{ref}px"] = round(neighbour_overlap(spaces[r["size"]], spaces[ref]), 4)
    return {"weights": args.weights, "per_album": args.per_album, "albums": len(by_album), "rows": rows}


def cmd_lsh_grid(args: argparse.Namespace) -> dict:
    from imagesearch.index.artifacts import load_version
    from imagesearch.index.lsh import LshBuildParams
    from imagesearch.index.recall import measure_recall
    from imagesearch.index.storage import LocalIndexStore

    store = LocalIndexStore(args.index)
    version = store.read_current()
    _, arrays = load_version(store.local_dir(version))
    vectors = np.asarray(arrays["vectors"], dtype=np.float32)
    rows = []
    for tables, bits, probes in itertools.product(_ints(args.tables), _ints(args.bits), _ints(args.probes)):
        params = LshBuildParams(tables=tables, bits=bits, seed=0)
        r = measure_recall(vectors, params, probes=probes, k=10, queries=args.queries, seed=0)
        rows.append(
            {
                "tables": tables,
                "bits": params.resolved_bits(len(vectors)),
                "probes": probes,
                "recall_at_10": r["recall"],
                "fraction_scored": r["fraction_scored"],
                "lsh_ms": r["median_ms"]["lsh"],
                "exact_ms": r["median_ms"]["exact"],
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"index": args.index, "version": version, "count": len(vectors), "rows": rows}


def _holder(index: str, queries: int) -> dict:
    """In a fresh process: open the index, load the model, query, report timings and peak RSS."""
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    s = OpenIndex.open(index)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    s.warm_up()
    model_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    rows = rng.choice(s.count, size=min(queries, s.count), replace=False)
    lat = {"exact": [], "lsh": []}
    for mode in ("exact", "lsh"):
        for r in rows:
            v = s.vector(int(r))
            t = time.perf_counter()
            s.search_vector(v, 10, mode=mode, exclude_hash=None)
            lat[mode].append(time.perf_counter() - t)
    # A new image (not in the index) end to end: decode + featurize + LSH search.
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(buf, format="PNG")
    new = []
    for _ in range(20):
        t = time.perf_counter()
        search_image_bytes(s, buf.getvalue(), 10)
        new.append(time.perf_counter() - t)
    return {
        "index_load_ms": round(load_s * 1e3, 1),
        "model_load_s": round(model_s, 2),
        "query_ms_median": {m: round(float(np.median(v)) * 1e3, 3) for m, v in lat.items()},
        "query_ms_p95": {m: round(float(np.percentile(v, 95)) * 1e3, 3) for m, v in lat.items()},
        "new_image_query_ms_median": round(float(np.median(new)) * 1e3, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mib": round(rss0 / 1024, 1),
        "default_mode": s.default_mode,
    }


def cmd_full(args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "imagesearch.cli",
        "index",
        "build",
        "--images",
        args.images,
        "--out",
        args.out,
        "--weights",
        args.weights,
        "--quiet",
    ]
    if args.size:
        cmd += ["--size", str(args.size)]
    out: dict = {"build_command": " ".join(cmd[2:])}
    if not args.skip_build:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out["build_wall_s"] = round(time.perf_counter() - t0, 1)
        report = json.loads(done.stdout)
        report.pop("skipped_files", None)
        out["build_report"] = report
    holder = subprocess.run(
        [sys.executable, __file__, "_holder", "--index", args.out, "--queries", str(args.queries)],
        capture_output=True,
        text=True,
    )
    if holder.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{holder.stderr}")
    out["holder"] = json.loads(holder.stdout)
    from imagesearch.index.storage import LocalIndexStore

    store = LocalIndexStore(args.out)
    manifest = store.read_manifest(store.read_current())
    out["manifest"] = {k: manifest[k] for k in ("count", "model", "weights", "lsh", "recall", "default_mode")}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sizes", help="precision@10 and throughput per input size")
    s.add_argument("--images", required=True)
    s.add_argument("--per-album", type=int, default=50)
    s.add_argument("--sizes", default="32,64,112,224")
    s.add_argument("--weights", default="seed:0")
    s.set_defaults(func=cmd_sizes)
    g = sub.add_parser("lsh-grid", help="LSH parameter grid on an index's vectors")
    g.add_argument("--index", required=True)
    g.add_argument("--tables", default="8,16,24")
    g.add_argument("--bits", default="10,12,14")
    g.add_argument("--probes", default="8,16,32")
    g.add_argument("--queries", type=int, default=200)
    g.set_defaults(func=cmd_lsh_grid)
    f = sub.add_parser("full", help="build + load + query + memory on a collection")
    f.add_argument("--images", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--weights", default="seed:0")
    f.add_argument("--size", type=int, default=None)
    f.add_argument("--queries", type=int, default=200)
    f.add_argument("--skip-build", action="store_true", help="measure an existing index only")
    f.set_defaults(func=cmd_full)
    h = sub.add_parser("_holder")
    h.add_argument("--index", required=True)
    h.add_argument("--queries", type=int, default=200)
    args = p.parse_args()
    if args.cmd == "_holder":
        print(json.dumps(_holder(args.index, args.queries)))
        return 0
    result = args.func(args)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
