"""`imagesearch duplicates`: groups of near-duplicates in the live index (registered by imagesearch.cli).

A text table by default, `--json` for machines (the duplicates.json document). Pixels and bytes
are read from the images themselves: the gallery bucket of an S3 index root, or `--images`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from imagesearch.cli.common import needs_s3, print_json, progress_bar, s3_client
from imagesearch.settings import Settings


def run_duplicates(args: argparse.Namespace, settings: Settings) -> int:
    """Find the near-duplicate groups and print them."""
    from imagesearch.index.opened import OpenIndex
    from imagesearch.ops.duplicates import facts_from_bucket, facts_from_folder, find_duplicates, table
    from imagesearch.s3io import is_s3_uri, parse_s3_uri

    index_root = args.index or settings.index
    images = args.images
    s3 = s3_client() if needs_s3(index_root, images) else None
    if images is None and is_s3_uri(index_root):
        images = f"s3://{parse_s3_uri(index_root)[0]}"  # the gallery bucket holds the index
    if images is None:
        facts = None
    elif is_s3_uri(images):
        facts = facts_from_bucket(s3, parse_s3_uri(images)[0], settings.build_max_bytes)
    else:
        facts = facts_from_folder(images)
    index = OpenIndex.open(index_root, s3=s3, cache_dir=args.cache_dir or settings.cache_dir)
    bar: Any = None
    if progress_bar(args):
        from tqdm import tqdm

        bar = tqdm(total=index.count, desc="duplicates", unit="img", leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    doc = find_duplicates(index, facts, progress=progress)
    if bar is not None:
        bar.close()
    if args.json:
        print_json(doc)
    else:
        sys.stdout.write(table(doc) + "\n")
    return 0


def add_duplicates_command(sub: Any) -> None:
    """Register `duplicates`."""
    p = sub.add_parser(
        "duplicates",
        help="groups of near-duplicate images in the live index, with the one to keep",
        description="Join every image's top 10 at or above the index's near_duplicate band into groups "
        "(transitively); list each group's images with pixels, bytes and album, and suggest the one to "
        "keep (most pixels, then largest file).",
    )
    p.add_argument("--index", default=None, help="index root (default: IMAGESEARCH_INDEX)")
    p.add_argument("--images", default=None,
                   help="where the images are, for pixels and bytes: an album folder or s3://bucket "
                   "(default: the bucket of an s3:// index root; a local index without it shows '?')")
    p.add_argument("--json", action="store_true", help="print the duplicates.json document")
    p.add_argument("--cache-dir", default=None,
                   help="local cache for S3 versions (default: IMAGESEARCH_CACHE_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_duplicates)
