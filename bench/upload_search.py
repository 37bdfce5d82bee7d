"""Upload + search on the local stack: p50 of request form, POST the file, search, for two image sizes.

Usage: nice -n 19 python bench/upload_search.py [--runs 20] [--count 64] [--work-dir .demo/bench-upload]

Each run is what the page does: POST /api/uploads, POST the file to the presigned form (moto S3),
POST /api/search {"upload": id, "k": 5}. The daemon featurizes every upload (a new image each run,
so no content-hash shortcut). Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import urllib.request
from pathlib import Path

import numpy as np
from devstack.launcher import StackProcess
from devstack.upload_client import post_file, request_upload
from PIL import Image
from stats import summarize

K = 5
KINDS = {
    # name: (width, height, format, content type)
    "small PNG (64x64)": (64, 64, "PNG", "image/png"),
    "2-megapixel JPEG (1632x1224)": (1632, 1224, "JPEG", "image/jpeg"),
}


def make_image(width: int, height: int, fmt: str, seed: int) -> bytes:
    """A photo-like test image: smooth gradients plus noise (so JPEG sizes are realistic), new per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([(x / width) * 255, (y / height) * 255, ((x + y) / (width + height)) * 255], axis=-1)
    pixels = np.clip(base * rng.uniform(0.5, 1.0, 3) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def search(api: str, upload_id: str) -> dict:
    body = json.dumps({"upload": upload_id, "k": K}).encode()
    request = urllib.request.Request(api + "/search", data=body, method="POST",  # noqa: S310 - loopback
                                      headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback; errors raise
        return json.load(resp)


def measure(api: str, runs: int) -> dict[str, dict[str, list[float]]]:
    """Per kind, per stage: milliseconds of each run (one warm-up run per kind is not counted)."""
    out: dict[str, dict[str, list[float]]] = {}
    for n, (name, (w, h, fmt, ctype)) in enumerate(KINDS.items()):
        stages: dict[str, list[float]] = {s: [] for s in ("form", "upload", "search", "agent", "total")}
        for i in range(runs + 1):
            data = make_image(w, h, fmt, seed=1000 * n + i)
            t0 = time.perf_counter()
            form = request_upload(api)
            t1 = time.perf_counter()
            if post_file(form, data, ctype) not in (200, 201, 204):
                raise RuntimeError("the upload was refused")
            t2 = time.perf_counter()
            answer = search(api, form["upload_id"])
            t3 = time.perf_counter()
            if len(answer["results"]) != K or answer["path"] != "warm":
                raise RuntimeError(f"unexpected answer: {answer}")
            if i == 0:
                continue  # warm-up
            for stage, s in (("form", t1 - t0), ("upload", t2 - t1), ("search", t3 - t2), ("total", t3 - t0)):
                stages[stage].append(s * 1000)
            # The agent's own total: S3 fetch, decode, featurize and the index search.
            stages["agent"].append(float(answer["timings_ms"].get("search") or 0.0))
        stages["bytes"] = [float(len(make_image(w, h, fmt, seed=1000 * n)))]
        out[name] = stages
    return out


def table(results: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: p50 / p95 in ms per stage, n per row."""
    lines = ["| query image | file size | POST /uploads | POST to S3 | POST /search "
             "| agent (fetch, featurize, search) | upload + search total |", "|---|---|---|---|---|---|---|"]
    for name, stages in results.items():
        cells = []
        for stage in ("form", "upload", "search", "agent", "total"):
            s = summarize(stages[stage])
            cells.append(f"{s.p50:.1f} / {s.p95:.1f}")
        n = len(stages["total"])
        lines.append(f"| {name} (n={n}) | {stages['bytes'][0] / 1024:.0f} KiB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/upload_search.py", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20, help="measured runs per image kind (default 20)")
    p.add_argument("--count", type=int, default=64, help="images in the generated collection (default 64)")
    p.add_argument("--work-dir", type=Path, default=Path(".demo") / "bench-upload")
    args = p.parse_args(argv)
    with StackProcess("--count", str(args.count), work_dir=args.work_dir,
                      log_path=args.work_dir / "devstack.log") as stack:
        results = measure(stack.info["api"], args.runs)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
