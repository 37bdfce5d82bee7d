"""`imagesearch sample-data`: a deterministic collection of procedural textures."""

from __future__ import annotations

import argparse
from typing import Any

from imagesearch.cli.common import print_json
from imagesearch.settings import Settings


def run_sample_data(args: argparse.Namespace, settings: Settings) -> int:
    """Write a procedural texture collection."""
    from imagesearch.model.sample_data import generate

    counts = generate(args.out, count=args.count, seed=args.seed, size=args.size)
    print_json({"ok": True, "out": args.out, "count": sum(counts.values()), "albums": counts})
    return 0


def add_sample_data_command(sub: Any) -> None:
    """Register `sample-data`."""
    p = sub.add_parser(
        "sample-data",
        help="write a deterministic collection of procedural textures",
        description="Write labelled texture albums (marble, wood, brick, ...) as PNGs, "
        "one subfolder per album.",
    )
    p.add_argument("--out", required=True, help="folder to write <album>/<file>.png into")
    p.add_argument("--count", type=int, required=True, help="number of images, spread evenly over the albums")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same bytes; default 0)")
    p.add_argument("--size", type=int, default=28, help="image side in pixels (default 28)")
    p.set_defaults(func=run_sample_data)
