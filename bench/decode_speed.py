"""Index build throughput on 12-megapixel phone JPEGs: full-scale decode against reduced-scale decode.

Run: nice -n 19 .venv/bin/python bench/decode_speed.py [--count 32] [--threads 8] [--write]

The photos are scikit-image's sample photographs scaled up to 4032 x 3024 with EXIF orientation 6
and GPS (bench/phone_photos.py). Each row runs the build's featurize pipeline
(imagesearch.model.pipeline.featurize_sources: read, decode, preprocess in a thread pool while the
model runs batches) with seeded weights at a 224 px input; "full scale" is the decode as it was
before reduced-scale decoding (every pixel decoded, then resized), forced by asking for no size.
`--write` puts the section into docs/benchmarks.md (between its markers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from doc_section import write_section
from image_prep import decoding
from imagesearch.model import images, pipeline
from imagesearch.model.features import Featurizer
from imagesearch.model.pipeline import Limits, featurize_sources
from imagesearch.model.sources import local_sources
from phone_photos import phone_jpegs

SIZE = 224


def _full_scale(data: bytes, *, max_pixels: int, size=None, gate=None):
    return images.decode_image(data, max_pixels=max_pixels, size=None, gate=gate)


def run(sources, featurizer, threads: int, mode: str, repeats: int) -> float:
    """The best of `repeats` passes, in images per second, for one decode mode."""
    decode = images.decode_image
    gap = decoding.REDUCING_GAP
    if mode == "full":
        pipeline.decode_image = _full_scale
    elif mode == "gap1":
        decoding.REDUCING_GAP = 1.0
    try:
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            out = featurize_sources(sources, featurizer, Limits(max_bytes=1 << 26, max_pixels=40_000_000),
                                    threads=threads)
            assert len(out.keys) == len(sources), out.skipped
            rates.append(len(sources) / (time.perf_counter() - started))
        return max(rates)
    finally:
        pipeline.decode_image = decode
        decoding.REDUCING_GAP = gap


def decode_only(datas: list[bytes], mode: str) -> tuple[float, float]:
    """(milliseconds per image, one thread; mean absolute difference of the 224 px input from full scale)."""
    gap = decoding.REDUCING_GAP
    if mode == "gap1":
        decoding.REDUCING_GAP = 1.0
    try:
        times, diffs = [], []
        for data in datas:
            started = time.perf_counter()
            size = None if mode == "full" else (SIZE, SIZE)
            im = images.decode_image(data, max_pixels=40_000_000, size=size)
            small = np.asarray(im.resize((SIZE, SIZE), images.Image.BILINEAR), dtype=np.float32)
            times.append(time.perf_counter() - started)
            ref = images.decode_image(data, max_pixels=40_000_000).resize((SIZE, SIZE), images.Image.BILINEAR)
            diffs.append(float(np.abs(small - np.asarray(ref, dtype=np.float32)).mean()))
        return statistics.median(times) * 1000, statistics.mean(diffs)
    finally:
        decoding.REDUCING_GAP = gap


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    args = p.parse_args(argv)
    datas = phone_jpegs(args.count)
    featurizer = Featurizer.load("seed:0", size=SIZE, batch_size=16)
    featurizer.featurize_arrays(np.zeros((1, 3, SIZE, SIZE), dtype=np.float32))  # warm, outside the timing
    with tempfile.TemporaryDirectory(prefix="decode-speed-") as tmp:
        album = Path(tmp, "phone")
        album.mkdir()
        for i, data in enumerate(datas):
            (album / f"IMG_{i:04d}.jpg").write_bytes(data)
        sources, _ = local_sources(tmp)
        modes = [("full", "full scale (before)"), ("gap1", "reduced, draft to 1x the input"),
                 ("gap2", "reduced, draft to 2x the input (the engine's)")]
        rows = []
        for mode, label in modes:
            rate = run(sources, featurizer, args.threads, mode, args.repeats)
            ms, diff = decode_only(datas[:8], mode)
            rows.append((label, rate, ms, diff))
            print(f"{label}: {rate:.1f} img/s, decode+resize {ms:.0f} ms/img, input diff {diff:.2f}",
                  flush=True)
    base = rows[0][1]
    lines = [
        "## Decode speed: 12-megapixel phone JPEGs through the build's featurize pipeline",
        "",
        f"Command: `nice -n 19 .venv/bin/python bench/decode_speed.py --count {args.count} "
        f"--threads {args.threads} --write` ({os.cpu_count()} cores, shared; seeded weights, "
        f"{SIZE} px input, best of {args.repeats} passes). {args.count} JPEGs of 4032 x 3024 (quality 90, "
        "EXIF orientation 6 and GPS) made from scikit-image's sample photographs (bench/phone_photos.py).",
        "",
        "| decode | build throughput (images/s) | vs before | decode + resize to 224, one thread (ms) "
        "| mean abs. difference of the 224 px input from full scale (0-255) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {rate:.1f} | {rate / base:.1f}x | {ms:.0f} | {diff:.2f} |"
              for label, rate, ms, diff in rows]
    lines += ["", "Reduced scale: libjpeg decodes at 1/2, 1/4 or 1/8 scale (Pillow's `draft`), keeping each "
              "side at least twice the input size so the final bilinear resize still averages (the same gap "
              "as Pillow's own `thumbnail`); the difference column shows what that gap buys."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("decode-speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
