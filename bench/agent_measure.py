"""Measure the agent on one machine: warm daemon latency, thin client wall time, cold path, daemon memory.

The daemon runs as a real `imagesearch serve` child process against an existing index (a local
index root), and reads query images from moto's S3 served over loopback HTTP, as in the local
stack. Results go to stdout (and --out as JSON); docs/agent.md records them with this command:

    .venv/bin/python bench/agent_measure.py --index INDEX_ROOT --images ALBUMS_DIR
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack.s3server import DUMMY_CREDENTIALS, MotoServer, client
from imagesearch.agent.client import DaemonUnavailable, ask_daemon
from imagesearch.agent.protocol import Request, search_request
from imagesearch.model import sample_data

BUCKET = "bench-site"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict:
    """p50, p95, mean, min and max of a list of milliseconds."""
    return {"n": len(values), "p50": round(pct(values, 50), 2), "p95": round(pct(values, 95), 2),
            "mean": round(statistics.fmean(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def script(name: str) -> str:
    """A console script of this interpreter's environment."""
    return str(Path(sys.executable).parent / name)


def proc_status(pid: int) -> dict:
    """VmHWM (peak resident set) and VmRSS of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            out[name] = round(int(value.split()[0]) / 1024, 1)
    return out


def upload_queries(s3, images: Path, n_indexed: int, n_new: int, seed: int) -> tuple[list[str], list[str]]:
    """Put n_indexed images from the indexed collection and n_new unseen renders in the bucket."""
    files = sorted(images.rglob("*.png"))
    picked = random.Random(seed).sample(files, min(n_indexed, len(files)))
    indexed = []
    for path in picked:
        key = f"albums/{path.parent.name}/{path.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        indexed.append(key)
    new = []
    albums = list(sample_data.ALBUMS)
    for i in range(n_new):
        album = albums[i % len(albums)]
        buf = io.BytesIO()
        sample_data.render(album, 900_000 + i, seed=seed + 1, size=28).save(buf, format="PNG")
        key = f"albums/{album}/bench_new_{i:04d}.png"
        s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
        new.append(key)
    return indexed, new


def wait_healthy(sock: str, proc: subprocess.Popen, timeout: float) -> dict:
    """Poll the health op until the daemon serves an index."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        try:
            health = ask_daemon(sock, Request("health"), timeout=5)
            if health.get("status") == "serving":
                return health
        except DaemonUnavailable:
            pass
        time.sleep(0.1)
    raise TimeoutError("daemon did not become healthy")


def warm_queries(sock: str, keys: list[str], k: int) -> tuple[list[float], list[dict]]:
    """Round-trip milliseconds over the socket (one connection per query, like the thin client)."""
    wall, timings = [], []
    for key in keys:
        t0 = time.perf_counter()
        answer = ask_daemon(sock, search_request(BUCKET, key, k), timeout=60)
        wall.append((time.perf_counter() - t0) * 1000)
        if not answer["ok"]:
            raise RuntimeError(f"query {key} failed: {answer}")
        timings.append(answer["timings_ms"])
    return wall, timings


def client_runs(env: dict, keys: list[str], k: int) -> tuple[list[float], list[dict]]:
    """Wall milliseconds of the thin client as SSM runs it (a fresh process, SSM_* variables)."""
    wall, answers = [], []
    for key in keys:
        run_env = {**env, "SSM_bucket": BUCKET, "SSM_key": key, "SSM_k": str(k)}
        t0 = time.perf_counter()
        proc = subprocess.run([script("imagesearch-query")], env=run_env, capture_output=True, text=True,
                              timeout=600)
        wall.append((time.perf_counter() - t0) * 1000)
        answer = json.loads(proc.stdout)
        if proc.returncode != 0:
            raise RuntimeError(f"client failed for {key}: {answer} {proc.stderr[-500:]}")
        answers.append(answer)
    return wall, answers


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print a summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True, help="local index root (with current.json)")
    p.add_argument("--images", required=True, help="the indexed collection (album folders of PNGs)")
    p.add_argument("--indexed", type=int, default=200, help="warm queries with indexed images")
    p.add_argument("--new", type=int, default=50, help="warm queries with images not in the index")
    p.add_argument("--client-runs", type=int, default=20, help="thin client runs (warm)")
    p.add_argument("--cold-runs", type=int, default=3, help="cold path runs for each of indexed and new")
    p.add_argument("--concurrent", type=int, default=50, help="queries sent at once for the burst figure")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the figures as JSON here")
    args = p.parse_args(argv)

    results: dict = {"index": args.index, "k": args.k}
    work = Path(tempfile.mkdtemp(prefix="agent-measure-", dir="/tmp"))
    sock = str(work / "d.sock")
    with MotoServer() as moto:
        s3 = client("s3", moto.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        indexed, new = upload_queries(s3, Path(args.images), args.indexed, args.new, args.seed)
        env = {**os.environ, **DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint_url,
               "IMAGESEARCH_INDEX": args.index, "IMAGESEARCH_SOCKET": sock,
               "IMAGESEARCH_CACHE_DIR": str(work / "cache"), "IMAGESEARCH_COLD_CACHE_DIR": str(work / "cold"),
               "IMAGESEARCH_ALLOWED_BUCKETS": BUCKET, "IMAGESEARCH_ENV_FILE": str(work / "absent.env"),
               "IMAGESEARCH_RELOAD_SECONDS": "3600"}
        t0 = time.perf_counter()
        with open(work / "daemon.log", "wb") as log:
            daemon = subprocess.Popen([script("imagesearch"), "serve"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            health = wait_healthy(sock, daemon, 600)
            results["daemon_start_s"] = round(time.perf_counter() - t0, 2)
            results["health"] = health["index"]
            results["rss_after_start_mb"] = proc_status(daemon.pid)

            warm_queries(sock, indexed[:5] + new[:2], args.k)  # first-touch effects out of the figures
            wall, timings = warm_queries(sock, indexed, args.k)
            results["warm_indexed_ms"] = summary(wall)
            results["warm_indexed_daemon_ms"] = {part: summary([t[part] for t in timings])
                                                 for part in ("fetch", "search", "total")}
            wall, timings = warm_queries(sock, new, args.k)
            results["warm_new_ms"] = summary(wall)
            results["warm_new_daemon_ms"] = {part: summary([t[part] for t in timings])
                                             for part in ("fetch", "featurize", "search", "total")}

            burst = (indexed * ((args.concurrent // len(indexed)) + 1))[:args.concurrent]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrent) as pool:
                answers = list(pool.map(lambda key: ask_daemon(sock, search_request(BUCKET, key, args.k),
                                                               timeout=60), burst))
            results["burst"] = {"queries": len(burst), "wall_ms": round((time.perf_counter() - t0) * 1000, 1),
                                "all_ok": all(a["ok"] for a in answers)}

            wall, answers = client_runs(env, indexed[: args.client_runs], args.k)
            assert all(a["path"] == "warm" for a in answers)
            results["client_warm_wall_ms"] = summary(wall)
            results["daemon_peak_rss_mb"] = proc_status(daemon.pid)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)

        # The daemon is gone: the same client falls back to the cold in-process search.
        # One OpenMP thread: MXNet's seeded initialisation ("seed:N" weights, used offline) is not
        # reproducible with several threads, and a featurizer whose digest differs from the
        # manifest's is refused. Pretrained or .params weights do not depend on this.
        env = {**env, "OMP_NUM_THREADS": "1"}
        wall, answers = client_runs(env, indexed[-args.cold_runs:], args.k)
        assert all(a["path"] == "cold" for a in answers)
        results["cold_indexed_wall_ms"] = summary(wall)
        wall, answers = client_runs(env, new[-args.cold_runs:], args.k)
        assert all(a["path"] == "cold" for a in answers)
        results["cold_new_wall_ms"] = summary(wall)

    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
