"""Issue 15's acceptance run on the local stack: hostile inputs, a 50-client load, the SIGHUP case.

Loopback only and bounded (a fixed client count and duration). Prints one JSON object with the
figures: answers by status for each hostile body, errors and p50/p95 under load, and the daemon's
RSS and open descriptors before and after, and around a SIGHUP.

    nice -n 19 .venv/bin/python bench/hardening.py --count 200 --clients 50 --seconds 45
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.stack import LocalStack, StackConfig


def _post(api: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(api + "/search", data=body, method="POST",  # noqa: S310 - loopback
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback URL
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text[:200].decode(errors="replace")}


def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
    return out


def hostile_bodies(key: str) -> list[tuple[str, bytes]]:
    """Bad request bodies (the tester's kinds): each must answer 4xx, never 5xx."""
    return [
        ("empty", b""), ("not json", b"{key"), ("array", b"[]"), ("string", b'"x"'),
        ("invalid utf-8", b'{"key": "albums/a/\xff.png", "k": 3}'),
        ("utf-16", '{"key": "x", "k": 3}'.encode("utf-16")),
        ("nested deep", b"[" * 5000 + b"]" * 5000), ("huge", b'{"key": "' + b"a" * 5000 + b'", "k": 3}'),
        ("unknown field", json.dumps({"key": key, "k": 3, "x": 1}).encode()),
        ("missing k", json.dumps({"key": key}).encode()),
        ("k zero", json.dumps({"key": key, "k": 0}).encode()),
        ("k bool", json.dumps({"key": key, "k": True}).encode()),
        ("k float", json.dumps({"key": key, "k": 2.5}).encode()),
        ("k string", json.dumps({"key": key, "k": "3"}).encode()),
        ("shell", json.dumps({"key": "albums/a/$(id).png", "k": 3}).encode()),
        ("traversal", json.dumps({"key": "albums/../gallery/x.png", "k": 3}).encode()),
        ("gallery key", json.dumps({"key": "gallery/a/x.png", "k": 3}).encode()),
        ("newline", json.dumps({"key": key + "\n", "k": 3}).encode()),
        ("no such image", json.dumps({"key": "albums/none/none.png", "k": 3}).encode()),
        ("not an image", json.dumps({"key": "albums/hostile/not_an_image.png", "k": 3}).encode()),
    ]


def run_hostile(stack: LocalStack, api: str, key: str) -> dict:
    """Every hostile body once, plus a chunked and a short one on raw connections."""
    from devstack.s3server import client
    from devstack.stack import GALLERY_BUCKET

    # albums/hostile/not_an_image.png names this gallery object (the site holds no originals).
    client("s3", stack.endpoint_url).put_object(Bucket=GALLERY_BUCKET, Key="gallery/hostile/not_an_image.png",
                                                Body=b"%PDF-1.4 not an image")
    answers = {}
    for name, body in hostile_bodies(key):
        status, answer = _post(api, body)
        answers[name] = [status, (answer.get("error") or {}).get("code")]
    b64 = base64.b64encode(b'{"key": "\xff"}')
    answers["chunked"] = [int(_raw(stack.url, b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                   b"chunked\r\n\r\n" + hex(len(b64))[2:].encode() + b"\r\n" + b64
                                   + b"\r\n0\r\n\r\n")[9:12]), None]
    answers["short"] = [int(_raw(stack.url, b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 99"
                                 b"\r\n\r\n{}")[9:12]), None]
    return {"answers": answers, "5xx": sorted(n for n, (s, _) in answers.items() if s >= 500)}


def daemon_figures(pid: int) -> dict:
    """RSS (MiB) and open descriptors of the daemon process."""
    rss_kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    return {"pid": pid, "rss_mib": round(rss_kib / 1024, 1), "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")


def run_load(api: str, keys: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads searching back to back for `seconds`: answers, errors, p50/p95 (ms)."""
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    paths: dict[str, int] = {}

    def worker(n: int) -> None:
        i = n
        while time.monotonic() < stop_at:
            key = keys[i % len(keys)]
            i += clients
            t0 = time.perf_counter()
            try:
                status, answer = _post(api, json.dumps({"key": key, "k": 5}).encode())
            except OSError as e:
                status, answer = 0, {"error": {"code": type(e).__name__}}
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                if status == 200:
                    latencies.append(ms)
                    paths[answer.get("path", "?")] = paths.get(answer.get("path", "?"), 0) + 1
                else:
                    code = f"{status}:{(answer.get('error') or {}).get('code')}"
                    errors[code] = errors.get(code, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    answered = len(latencies)
    return {"clients": clients, "seconds": round(wall, 1), "answered": answered, "errors": errors,
            "paths": paths, "per_s": round(answered / wall, 2), "p50_ms": percentile(latencies, 0.5),
            "p95_ms": percentile(latencies, 0.95)}


def run_sighup(stack: LocalStack, api: str, keys: list[str]) -> dict:
    """SIGHUP the daemon, then search: same process, still warm."""
    before = daemon_figures(stack.daemon.proc.pid)
    os.kill(stack.daemon.proc.pid, signal.SIGHUP)
    time.sleep(2.0)
    alive = stack.daemon.proc.poll() is None
    results = [_post(api, json.dumps({"key": k, "k": 5}).encode()) for k in keys[:20]]
    paths = [answer.get("path") for status, answer in results if status == 200]
    return {"alive_after": alive, "same_pid": stack.daemon.proc.pid == before["pid"],
            "restarts": stack.daemon.restarts, "ok": len(paths), "warm": paths.count("warm"),
            "before": before, "after": daemon_figures(stack.daemon.proc.pid)}


def main(argv: list[str] | None = None) -> int:
    """Start the local stack, run the three cases, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=200, help="sample images (default 200)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=45.0)
    p.add_argument("--work-dir", type=Path, default=Path(".demo"))
    args = p.parse_args(argv)
    if not (1 <= args.clients <= 64 and 0 < args.seconds <= 120):
        p.error("bounded: 1..64 clients, up to 120 s")
    config = StackConfig(count=args.count, work_dir=args.work_dir)
    with LocalStack(config, say=lambda m: print(m, file=sys.stderr)) as stack:
        api = stack.url.rstrip("/") + "/api"
        from publish.smoke import album_keys

        keys = album_keys(stack.url, 30.0)
        for key in keys[:3]:
            _post(api, json.dumps({"key": key, "k": 5}).encode())  # warm-up
        figures = {"daemon_before": daemon_figures(stack.daemon.proc.pid)}
        figures["hostile"] = run_hostile(stack, api, keys[0])
        figures["load"] = run_load(api, keys, args.clients, args.seconds)
        figures["daemon_after_load"] = daemon_figures(stack.daemon.proc.pid)
        figures["sighup"] = run_sighup(stack, api, keys)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
