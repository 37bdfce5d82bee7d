"""Section 3: query latency, warm daemon (indexed and new image), cold thin client, exact against LSH."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import agent_proc
import numpy as np
import plots
from imagesearch.index.opened import OpenIndex
from imagesearch.keys import album_key
from report import Section, figure, table
from stats import fmt_ratio, summarize


@dataclass
class QueryResult:
    """Client-side milliseconds per query by path, plus the daemon's own stage timings."""

    count: int
    k: int
    ms: dict[str, list[float]] = field(default_factory=dict)
    daemon_stages: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    cold_paths: list[str] = field(default_factory=list)


WARM_INDEXED = "warm daemon, indexed image"
WARM_NEW = "warm daemon, new image"
COLD = "cold: thin client, no daemon"


def site_key(path: Path, album_prefix: str = "") -> str:
    """The site-bucket key of an album image file: albums/<prefix><album>/<file> (the product's album_key)."""
    return album_key(album_prefix + path.parent.name, path.name)


def stage_queries(s3, bucket: str, files: Sequence[Path], album_prefix: str = "") -> list[str]:
    """Upload image files as albums/<prefix><album>/<file> in the site bucket; their keys."""
    keys = []
    for path in files:
        key = site_key(path, album_prefix)
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="image/png")
        keys.append(key)
    return keys


def pick_files(images_dir: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` image files spread over the albums, reproducibly."""
    files = sorted(images_dir.glob("*/*.png"))
    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), size=min(count, len(files)), replace=False))]


def measure_warm(socket_path: Path, bucket: str, keys: Sequence[str], k: int, repeats: int,
                 result: QueryResult, label: str) -> None:
    """Time `repeats` searches through the daemon's socket, cycling over keys (one untimed first)."""
    agent_proc.search(socket_path, bucket, keys[0], k)
    ms, stages = [], {}
    for i in range(repeats):
        t0 = time.perf_counter()
        answer = agent_proc.search(socket_path, bucket, keys[i % len(keys)], k)
        ms.append((time.perf_counter() - t0) * 1000)
        for stage, value in answer["timings_ms"].items():
            stages.setdefault(stage, []).append(float(value))
    result.ms[label] = ms
    result.daemon_stages[label] = stages


def cold_query(env: dict[str, str], bucket: str, key: str, k: int) -> tuple[float, dict]:
    """One run of the thin client as SSM runs it (SSM_* variables); (milliseconds, its JSON answer)."""
    run_env = {**env, "SSM_bucket": bucket, "SSM_key": key, "SSM_k": str(k)}
    t0 = time.perf_counter()
    proc = subprocess.run([agent_proc.console_script("imagesearch-query")], env=run_env,
                          capture_output=True, text=True, check=False, timeout=600)
    ms = (time.perf_counter() - t0) * 1000
    answer = json.loads(proc.stdout)
    if not answer.get("ok"):
        raise RuntimeError(f"cold query failed: {answer.get('error')}")
    return ms, answer


def measure_cold(env: dict[str, str], bucket: str, keys: Sequence[str], k: int, repeats: int,
                 result: QueryResult) -> None:
    """Time the thin client with no daemon listening: a whole process per query."""
    ms = []
    for i in range(repeats):
        elapsed, answer = cold_query(env, bucket, keys[i % len(keys)], k)
        ms.append(elapsed)
        result.cold_paths.append(answer.get("path", "?"))
    result.ms[COLD] = ms


def measure_modes(index_root: Path, cache_dir: Path, k: int, queries: int, result: QueryResult,
                  seed: int = 0) -> None:
    """In-process OpenIndex.search_vector on stored vectors: exact against LSH, same query rows."""
    s = OpenIndex.open(str(index_root), cache_dir=str(cache_dir))
    rows = np.random.default_rng(seed).choice(s.count, size=min(queries, s.count), replace=False)
    for mode in ("exact", "lsh"):
        s.search_vector(s.vector(int(rows[0])), k, mode=mode)  # untimed: first touch of the pages
        ms = []
        for row in rows:
            v = s.vector(int(row))
            t0 = time.perf_counter()
            s.search_vector(v, k, mode=mode)
            ms.append((time.perf_counter() - t0) * 1000)
        result.ms[f"search_vector, {mode}"] = ms


def section(result: QueryResult, plot_dir: Path, rel_dir: str) -> Section:
    """The markdown section and its plot."""
    rows = [[name, summarize(v).fmt("ms", 2)] for name, v in result.ms.items()]
    stage_rows = []
    for label, stages in result.daemon_stages.items():
        for stage, values in stages.items():
            stage_rows.append([label, stage, summarize(values).fmt("ms", 2)])
    ratios = []
    if COLD in result.ms and WARM_INDEXED in result.ms:
        ratios.append(f"cold / warm (indexed image): {fmt_ratio(result.ms[COLD], result.ms[WARM_INDEXED])}")
    if COLD in result.ms and WARM_NEW in result.ms:
        ratios.append(f"cold / warm (new image): {fmt_ratio(result.ms[COLD], result.ms[WARM_NEW])}")
    if "search_vector, exact" in result.ms:
        ratios.append("exact / LSH search_vector: "
                      f"{fmt_ratio(result.ms['search_vector, exact'], result.ms['search_vector, lsh'])}")
    plots.bars(plot_dir / "query.png", result.ms, "ms per query (log scale)", "Query latency", log=True)
    paths = sorted(set(result.cold_paths))
    body = "\n\n".join([
        f"Index of {result.count:,} images, k={result.k}. Warm: the real daemon (`imagesearch serve`) in "
        "its own process, asked over its Unix socket with the daemon protocol; the query image is fetched "
        "from the local S3 (moto on 127.0.0.1) like on the instance. An indexed image reuses its stored "
        "vector; a new image (generated with another seed, not in the index) goes through ResNet-50. Cold: "
        "`imagesearch-query` run as the SSM document runs it (SSM_* variables) with no daemon listening, so "
        "the process imports MXNet, opens the index and loads the model for one query "
        f"(answers reported path: {', '.join(paths) or 'n/a'}). search_vector: the engine's search alone, "
        "in process, on stored vectors.",
        table(["path", "latency (client side)"], rows),
        "Ratios: " + "; ".join(ratios) + "." if ratios else "",
        "The daemon's own timings for the warm queries (its `timings_ms`):",
        table(["query", "stage", "ms"], stage_rows),
        figure(f"{rel_dir}/query.png", "query latency"),
    ])
    return Section("Query latency", body)
