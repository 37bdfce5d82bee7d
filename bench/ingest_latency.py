"""Ingest bench: put -> searchable on the local stack (p50 over a batch) and index add throughput.

Run: nice -n 19 .venv/bin/python bench/ingest_latency.py   (prints a markdown section)

1. A local stack (python -m devstack, 64 sample images) is started; N images (near-duplicate
   pairs) are put under gallery/ through its S3; each counts as searchable when a search for its
   twin, over the HTTP API, returns it. Latency = that moment minus its put.
2. The engine's incremental add (imagesearch.ops.build.update_images, one new version) of M new
   images onto an index of the same 64 (seeded demo weights, default input size): images per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stack_latency(pairs: int) -> dict:
    """Seconds from put to searchable for 2 x pairs images on a fresh local stack."""
    from devstack.ingest_probe import near_duplicates, put_pairs, wait_searchable
    from devstack.launcher import StackProcess
    from devstack.s3server import client

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        stack = StackProcess("--count", "64", work_dir=REPO / ".demo" / "bench-ingest",
                             log_path=Path(tmp) / "devstack.log")
        info = stack.start()
        try:
            s3 = client("s3", info["s3_endpoint"])
            probe = put_pairs(s3, info["gallery_bucket"], "marble", near_duplicates(pairs, seed=23),
                              prefix="bench")
            keys = sorted(probe.twins)
            found = wait_searchable(info["url"], probe, keys, timeout_s=300)
        finally:
            stack.stop()
    lat = sorted(probe.found_at[k] - probe.put_at[k] for k in found)
    return {"n": len(keys), "found": len(found), "p50": statistics.median(lat), "max": lat[-1],
            "min": lat[0]}


def add_throughput(count: int) -> dict:
    """update_images of `count` new sample images onto a 64-image index: images per second."""
    from imagesearch import settings
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.model.features import Featurizer
    from imagesearch.model.sample_data import generate
    from imagesearch.model.sources import local_sources
    from imagesearch.ops.build import build_index, update_images

    # The local stack's weights: seeded, offline (the same cost per image as pretrained ones).
    config = dataclasses.replace(BuildConfig.from_settings(settings.load()), weights="seed:0")
    with tempfile.TemporaryDirectory(prefix="bench-add-") as tmp:
        generate(f"{tmp}/base", count=64, seed=0)
        generate(f"{tmp}/new", count=count, seed=31)
        featurizer = Featurizer.load(config.weights, size=config.input_size, batch_size=config.batch_size,
                                     cache_dir=f"{tmp}/cache")
        build_index(f"{tmp}/base", f"{tmp}/idx", featurizer=featurizer, config=config)
        sources, _ = local_sources(f"{tmp}/new", key_prefix="gallery/new-")
        started = time.perf_counter()
        report = update_images(f"{tmp}/idx", sources=sources, featurizer=featurizer, config=config)
        seconds = time.perf_counter() - started
    return {"added": report["added"], "seconds": seconds, "per_s": report["added"] / seconds,
            "weights": config.weights, "size": config.input_size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=10, help="near-duplicate pairs put on the stack (default 10)")
    p.add_argument("--add", type=int, default=500, help="images added in the throughput run (default 500)")
    args = p.parse_args(argv)
    add = add_throughput(args.add)
    lat = stack_latency(args.pairs)
    print("## Ingest: put to searchable, and incremental add\n")
    print("Command: `nice -n 19 .venv/bin/python bench/ingest_latency.py` (one run on this machine).\n")
    print("| measure | value |\n|---|---|")
    print(f"| put -> searchable, local stack, p50 over a batch of {lat['n']} | {lat['p50']:.1f} s "
          f"(min {lat['min']:.1f}, max {lat['max']:.1f}; {lat['found']}/{lat['n']} found) |")
    print(f"| index add throughput (update_images, {add['added']} new images onto 64, "
          f"{add['weights']}, {add['size']} px) | {add['per_s']:.0f} images/s ({add['seconds']:.1f} s) |")
    print("\nThe local latency is mostly the poller's batching window (3 s locally, 20 s in the "
          "template), the ingest command's start (Python, MXNet, the model) and the daemon's reload.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
