"""Result cache bench, in one run: hit vs SSM path on the local stack, warm-up and size at N images.

Usage: python bench/cache_bench.py [--count 30000] [--requests 100] [--out docs/result_cache_bench.md]
(`make bench-cache` writes docs/result_cache_bench.md)

1. Latency: the local stack (devstack, its default collection), the same album images searched
   through the cache (a hit) and with `"fresh": true` (the SSM path: local SSM runner, thin client,
   warm daemon), interleaved; client-side wall time and the function's `timings_ms.total`.
2. Warm-up at N images: a generated collection indexed locally with seeded weights, then
   publish.cache_warm.warm_cache (the publisher's own code) into a moto S3: time and bytes.
3. Layout: one object per image against one table per version in 256 shards (by hash prefix):
   write time, and the read of one entry (GET, decode) for 200 random images each way.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from figures import Figure, figure_path, ratio_digits, report_name  # noqa: E402
from figures import write as write_figures  # noqa: E402
from report import Section, render, table  # noqa: E402
from stats import fmt_ratio, ratio, summarize  # noqa: E402

GALLERY = "bench-cache-gallery"


def log(message: str) -> None:
    print(f"[result-cache {time.strftime('%H:%M:%S')}] {message}", flush=True)


def post(api: str, body: dict, fresh_token: str = "") -> tuple[float, dict]:
    data = json.dumps(body).encode()
    # "fresh" needs the operator's token (docs/function.md, "Fresh"); the local stack reports its own.
    request = urllib.request.Request(api + "/search", data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "x-imagesearch-fresh-token": fresh_token})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback stack
        answer = json.load(resp)
    return (time.perf_counter() - t0) * 1000.0, answer


def measure_latency(work: Path, requests: int, k: int = 5) -> dict:
    """Hit vs SSM path for the same album images on a running devstack."""
    from devstack.launcher import StackProcess

    with StackProcess(work_dir=work / "stack", log_path=work / "devstack.log") as stack:
        info = stack.info
        from publish.smoke import album_keys

        keys = album_keys(info["url"], 30.0)
        rng = random.Random(0)
        picked = [rng.choice(keys) for _ in range(requests)]
        out = {"hit": [], "ssm": [], "hit_server": [], "ssm_server": [], "cache_read": [], "paths": set()}
        post(info["api"], {"key": picked[0], "k": k})  # untimed: containers and daemon warm
        post(info["api"], {"key": picked[0], "k": k, "fresh": True}, info["fresh_token"])
        for i, key in enumerate(picked):
            # Alternate which goes first, so neither side always follows the other.
            order = [("hit", {}), ("ssm", {"fresh": True})]
            for side, extra in (order if i % 2 == 0 else order[::-1]):
                ms, answer = post(info["api"], {"key": key, "k": k, **extra}, info["fresh_token"])
                out[side].append(ms)
                out[f"{side}_server"].append(answer["timings_ms"]["total"])
                out["paths"].add((side, answer["path"]))
                if side == "hit":
                    out["cache_read"].append(answer["timings_ms"]["cache_read"])
        return out


def build_index(work: Path, count: int) -> Path:
    from imagesearch.model import sample_data
    from imagesearch.ops.build import build_index as engine_build

    images = work / f"images-{count}"
    if not (images / ".complete").exists():
        log(f"generating {count} images")
        sample_data.generate(str(images), count=count, seed=0)
        (images / ".complete").touch()
    root = work / f"index-{count}"
    if not (root / "current.json").exists():
        log(f"building the index of {count} images (seed:0 weights)")
        engine_build(str(images), str(root), weights="seed:0", cache_dir=str(work / "engine-cache"))
    return root


def measure_warm(work: Path, count: int) -> dict:
    """The publisher's warm-up of every indexed image into moto S3, and the two layouts compared."""
    import cache_entries as entries
    from devstack.s3server import MotoServer, client, create_buckets

    from publish.cache_warm import warm_cache

    root = build_index(work, count)
    with MotoServer() as server:
        s3 = client("s3", server.endpoint_url)
        create_buckets(s3, GALLERY)
        log("warming every indexed image")
        report = warm_cache(s3, GALLERY, index_root=str(root), work_dir=work / "warm", progress=False,
                            concurrency=16)
        listing = [o for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=GALLERY, Prefix=entries.version_prefix(report.version)) for o in page.get("Contents", [])]
        stored = sum(o["Size"] for o in listing)
        digests = [o["Key"].rsplit("/", 1)[1][:-5] for o in listing if not o["Key"].endswith("warm.json")]

        log("one table per version (256 shards) for comparison")
        shards: dict[str, list[bytes]] = {}
        t0 = time.perf_counter()
        bodies = {d: s3.get_object(Bucket=GALLERY, Key=entries.entry_key(report.version, d))["Body"].read()
                  for d in digests}
        for digest, body in bodies.items():
            shards.setdefault(digest[:2], []).append(body)
        t_read_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        table_key = f"table/{report.version}/{{}}.jsonl"
        for prefix, lines in shards.items():
            s3.put_object(Bucket=GALLERY, Key=table_key.format(prefix), Body=b"\n".join(lines))
        table_write_s = time.perf_counter() - t0
        shard_bytes = sum(len(b"\n".join(v)) for v in shards.values())

        rng = random.Random(1)
        sample = [rng.choice(digests) for _ in range(200)]
        per_object, per_shard = [], []
        for digest in sample:
            t0 = time.perf_counter()
            raw = s3.get_object(Bucket=GALLERY, Key=entries.entry_key(report.version, digest))["Body"].read()
            entries.decode_entry(raw, report.version, digest)
            per_object.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            raw = s3.get_object(Bucket=GALLERY, Key=table_key.format(digest[:2]))["Body"].read()
            line = next(line for line in raw.split(b"\n") if digest.encode() in line)
            entries.decode_entry(line, report.version, digest)
            per_shard.append((time.perf_counter() - t0) * 1000)
    return {"report": report, "stored": stored, "objects": len(listing), "shard_bytes": shard_bytes,
            "table_write_s": table_write_s, "read_all_s": t_read_all, "per_object": per_object,
            "per_shard": per_shard, "count": count}


def section(lat: dict, warm: dict) -> Section:
    hit, ssm = summarize(lat["hit"]), summarize(lat["ssm"])
    hs, ss = summarize(lat["hit_server"]), summarize(lat["ssm_server"])
    r = warm["report"]
    rows = [
        ["cache hit (path cache)", f"{hit.p50:.1f}", f"{hit.p95:.1f}", f"{hs.p50:.1f}", f"{hs.p95:.1f}"],
        ["SSM path (fresh: true)", f"{ssm.p50:.1f}", f"{ssm.p95:.1f}", f"{ss.p50:.1f}", f"{ss.p95:.1f}"],
    ]
    paths = ", ".join(f"{side} -> {path}" for side, path in sorted(lat["paths"]))
    layout = [
        ["one object per image", f"{r.entries:,} + marker", f"{warm['stored'] / 1e6:.1f} MB",
         f"{r.total_s:.1f} s (the whole warm-up, search included)", summarize(warm["per_object"]).fmt()],
        ["one table per version, 256 shards", "256", f"{warm['shard_bytes'] / 1e6:.1f} MB",
         f"{warm['table_write_s']:.1f} s (the 256 PUTs alone)", summarize(warm["per_shard"]).fmt()],
    ]
    body = f"""
Measured by `python bench/cache_bench.py --count {warm['count']} --requests {len(lat['hit'])}` in one run.

**Hit against the SSM path, locally.** The same {len(lat['hit'])} album images of the local stack, each
searched once through the cache and once with `"fresh": true` (local SSM runner, thin client, warm
daemon), k=5, interleaved (answer paths seen: {paths}).

{table(["search", "client p50 ms", "client p95 ms", "function total p50 ms", "function total p95 ms"], rows)}

A hit is {fmt_ratio(lat['ssm'], lat['hit'])} faster than the SSM path at the client (medians);
the cache read itself is {summarize(lat['cache_read']).fmt()}. Locally the SSM path is a process start
of the thin client plus the daemon's search, with no SSM service in between, so on AWS the gap is
larger (below).

**Warm-up at {warm['count']:,} images** (publish.cache_warm.warm_cache, the publisher's own code, every
indexed image, into moto S3 on loopback, 16 writers): {r.entries:,} entries in {r.total_s:.1f} s, of which
the batch top-10 search took {r.compute_s:.1f} s (the writes run beside it); {warm['stored'] / 1e6:.1f} MB
stored ({warm['stored'] / max(r.entries, 1):.0f} bytes an entry). The search loop shares the machine
with the 16 writer threads and the moto server, so its time includes theirs; on AWS the writes go
to S3 and the publisher's cores do the search alone. It costs about as much as building the index
once more, once per index version, and makes "more like this" clicks on any result hits too, so
every indexed image is warmed by default (`--cache-warm all`); `--cache-warm albums` is there for
galleries where that stops being cheap.

**Layout.** One object per image against one table per version (256 shards by hash prefix):

{table(["layout", "objects", "bytes", "write", "read one entry (GET + decode)"], layout)}

Chosen: one object per image. A hit reads ~{warm['stored'] / max(r.entries, 1) / 1000:.1f} KB instead of a
~{warm['shard_bytes'] / 256 / 1e3:.0f} KB shard, a miss writes its entry with one PUT (a table would need a
read-modify-write that two containers can race on), and pruning a version is deleting a prefix. The
cost is one PUT per image at warm-up: $0.005 per 1,000 PUTs on S3 Standard, so $0.15 for 30,000
images per new index version, and the write time above.

**What a hit costs on AWS (an estimate, not measured here).** A hit makes the HEAD of the query
image the function already made, one GET of a ~1 KB entry, k `CopyObject` calls in parallel, and
every 5 s per container one GET of `index/current.json`. In-region S3 first-byte latency for small
objects is typically 10-30 ms (HEAD and GET alike) and a small CopyObject 20-60 ms, so a hit should
answer in roughly 50-120 ms inside the function, against 1-3 s for the SSM path (SendCommand,
delivery, a process start on the instance and GetCommandInvocation polls, as reported; no figure is
published). Requests cost $0.0004 per 1,000 GETs and $0.005 per 1,000 COPYs (k of them), the same
copies as the SSM path, which the cache spares its SSM calls and instance time.
"""
    return Section("Result cache", body)


def figures(lat: dict, warm: dict, report: str = "docs/result_cache_bench.md") -> list[Figure]:
    """This run's figures for docs/bench/figures.json, as the section prints them."""
    where = f"{report}#Result cache"
    hit, ssm = summarize(lat["hit"]), summarize(lat["ssm"])
    r = warm["report"]
    speedup = ratio(lat["ssm"], lat["hit"])[0]
    return [
        Figure("cache_hit_ms", hit.p50, "ms", 1, "cache hit, client p50, local stack", where),
        Figure("cache_hit_p95_ms", hit.p95, "ms", 1, "cache hit, client p95, local stack", where),
        Figure("cache_ssm_ms", ssm.p50, "ms", 1, "SSM path (fresh: true), client p50, local stack", where),
        Figure("cache_ssm_p95_ms", ssm.p95, "ms", 1, "SSM path (fresh: true), client p95, local stack",
               where),
        Figure("cache_hit_speedup", speedup, "x", ratio_digits(speedup),
               "SSM path / cache hit, client medians", where),
        Figure("cache_warm_images", warm["count"], "", 0, "images warmed", where),
        Figure("cache_warm_s", r.total_s, "s", 1, "warm-up of every indexed image", where),
        Figure("cache_warm_mb", warm["stored"] / 1e6, "MB", 1, "bytes the warm-up stored", where),
        Figure("cache_entry_bytes", warm["stored"] / max(r.entries, 1), "bytes", 0, "bytes an entry", where),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=30000)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--work-dir", type=Path, default=REPO / "bench" / "out" / "work-cache")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "result_cache.md")
    args = p.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log("latency: hit vs SSM path on the local stack")
    lat = measure_latency(args.work_dir, args.requests)
    warm = measure_warm(args.work_dir, args.count)
    text = render("Result cache", f"One run, {time.perf_counter() - started:.0f} s.", [section(lat, warm)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    write_figures(figure_path(args.out), figures(lat, warm, report_name(args.out)), "make bench-cache")
    log("wrote figures.json: `make figures-doc` carries its figures into the documents")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
