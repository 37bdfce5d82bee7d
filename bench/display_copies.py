"""Display copies (thumbs/ + previews/) of 8-megapixel phone JPEGs: time per image with and without
Pillow's reduced-scale JPEG decode (`draft`), the way publish and `imagesearch ingest` make them.

    .venv/bin/python bench/display_copies.py [--images 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from unittest import mock

from imagesearch.model.display import make_display_copies
from imagesearch.model.sample_photos import phone_jpeg
from PIL import JpegImagePlugin


def time_per_image(photos: list[bytes], repeats: int) -> float:
    """Median over repeats of the mean milliseconds per photo."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for data in photos:
            make_display_copies(data)
        runs.append((time.perf_counter() - start) * 1000 / len(photos))
    return round(statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    photos = [phone_jpeg(seed=i) for i in range(args.images)]
    with_draft = time_per_image(photos, args.repeats)
    with mock.patch.object(JpegImagePlugin.JpegImageFile, "draft", lambda self, mode, size: None):
        full = time_per_image(photos, args.repeats)
    print(json.dumps({"photos": args.images, "megapixels": 8.0, "ms_per_image_draft": with_draft,
                      "ms_per_image_full_decode": full, "speed_up": round(full / with_draft, 2)}))


if __name__ == "__main__":
    main()
