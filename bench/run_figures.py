"""`make bench`'s figures for docs/bench/figures.json, from the same results its report prints."""

from __future__ import annotations

import load_time
import query_latency
from build_speed import Build
from end_to_end import E2EResult
from figures import Figure, ratio_digits
from memory import MemoryResult
from stats import ratio, summarize

REPORT = "docs/benchmarks.md"


def _ratio(name: str, slow: list[float], fast: list[float], what: str, section: str) -> Figure:
    point = ratio(slow, fast)[0]
    return Figure(name, point, "x", ratio_digits(point), what, section)


def figures(builds: list[Build], load: load_time.LoadResult, query: query_latency.QueryResult,
            mem: MemoryResult, e2e: E2EResult, report: str = REPORT) -> list[Figure]:
    """The headline figures of one `make bench` run, each named after the report section it is in."""
    build, load_s, query_s = (f"{report}#{t}" for t in
                              ("Index build throughput", "Index load time", "Query latency"))
    full = builds[0]
    out = [Figure("bench_images", full.images, "", 0, "images in the bench collection (full build)", build)]
    out += [Figure("bench_build_wall", full.wall_s, "s", 1, f"index build wall time, {full.images:,} images "
                   f"at {full.size} px", build),
            Figure("bench_build_rate", full.featurize_rate, "img/s", 1, "featurize rate of that build",
                   build)]
    recall = full.report.get("recall") or {}
    if "recall" in recall:
        out.append(Figure("bench_build_recall", float(recall["recall"]), "", 3,
                          "build-time held-out LSH recall@10", build))
    if "fraction_scored" in recall:
        out.append(Figure("bench_build_scored", float(recall["fraction_scored"]), "", 4,
                          "fraction of the vectors LSH scored in that check", build))
    for b in builds[1:]:
        out.append(Figure(f"bench_build_rate_{b.size}px", b.featurize_rate, "img/s", 1,
                          f"featurize rate at {b.size} px ({b.images:,} images)", build))
    ms = load.ms
    if load_time.OPEN in ms:
        out.append(Figure("bench_open_ms", summarize(ms[load_time.OPEN]).p50, "ms", 1,
                          "index open (memory-mapped, no model), p50", load_s))
        if load_time.OLD in ms:
            out.append(Figure("bench_pickle_load_ms", summarize(ms[load_time.OLD]).p50, "ms", 1,
                              "the old system's pickle.load of its table, p50", load_s))
            out.append(_ratio("bench_open_ratio", ms[load_time.OLD], ms[load_time.OPEN],
                              "pickle load / index open", load_s))
    q = query.ms
    names = {query_latency.WARM_INDEXED: ("bench_warm_indexed_ms", "warm daemon, indexed image, p50"),
             query_latency.WARM_NEW: ("bench_warm_new_ms", "warm daemon, new image, p50"),
             query_latency.COLD: ("bench_cold_ms", "cold thin client (no daemon), p50"),
             "search_vector, exact": ("bench_exact_ms", "search_vector exact, in process, p50"),
             "search_vector, lsh": ("bench_lsh_ms", "search_vector LSH, in process, p50")}
    for label, (name, what) in names.items():
        if label in q:
            out.append(Figure(name, summarize(q[label]).p50, "ms", 2, what, query_s))
    if query_latency.COLD in q and query_latency.WARM_INDEXED in q:
        out.append(_ratio("bench_cold_warm_ratio", q[query_latency.COLD], q[query_latency.WARM_INDEXED],
                          "cold / warm (indexed image)", query_s))
    out.append(Figure("bench_daemon_peak", mem.peak_mib, "MiB", 0,
                      f"make bench's daemon peak (VmHWM), {mem.count:,} images, the build's input size",
                      f"{report}#Daemon peak memory"))
    e2e_s = f"{report}#Local end-to-end latency of POST /api/search"
    for run in e2e.runs[:1]:  # one client: what one user sees
        out.append(Figure("bench_e2e_total_ms", summarize(run.stages["total"]).p50, "ms", 1,
                          "POST /api/search on the local stack, the function's total, 1 client, p50", e2e_s))
        out.append(Figure("bench_e2e_wall_ms", summarize(run.wall_ms).p50, "ms", 1,
                          "the same, client wall time, p50", e2e_s))
    return out
