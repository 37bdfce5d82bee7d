"""`imagesearch query`: search an index with one image and print the agent JSON."""

from __future__ import annotations

import argparse
import os
from typing import Any

from imagesearch.cli.common import needs_s3, print_json, s3_client
from imagesearch.errors import SearchError
from imagesearch.settings import Settings


def run_query(args: argparse.Namespace, settings: Settings) -> int:
    """Search with one image and print the agent JSON."""
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex, QueryConfig
    from imagesearch.s3io import is_s3_uri, parse_s3_uri, read_s3_capped

    if args.k < 1:
        raise SearchError("bad_request", f"k must be at least 1, not {args.k}")
    s3 = s3_client() if needs_s3(args.index, args.image) else None
    max_bytes = settings.max_image_bytes
    if is_s3_uri(args.image):
        data = read_s3_capped(s3, *parse_s3_uri(args.image), max_bytes)
    else:
        try:
            if os.path.getsize(args.image) > max_bytes:
                raise SearchError("too_large", f"{args.image} is over the cap of {max_bytes} bytes")
            with open(args.image, "rb") as f:
                data = f.read()
        except FileNotFoundError as e:
            raise SearchError("not_found", f"{args.image} does not exist") from e
        except OSError as e:
            raise SearchError("bad_request", f"cannot read {args.image}: {e}") from e
    index = OpenIndex.open(
        args.index,
        s3=s3,
        cache_dir=args.cache_dir or settings.cache_dir,
        query=QueryConfig.from_settings(settings),
    )
    print_json(search_image_bytes(index, data, args.k, mode=args.mode, probes=args.probes))
    return 0


def add_query_command(sub: Any) -> None:
    """Register `query`."""
    p = sub.add_parser(
        "query",
        help="search with one image and print the agent JSON",
        description="Search an index with one image (local path or s3:// URI).",
    )
    p.add_argument("--index", required=True, help="index root: a folder or s3://bucket/prefix")
    p.add_argument("--image", required=True, help="query image: a local path or s3://bucket/key")
    p.add_argument("--k", type=int, default=5, help="number of matches (default 5)")
    p.add_argument(
        "--mode", choices=("lsh", "exact"), default=None, help="search mode (default: the index's own)"
    )
    p.add_argument(
        "--probes",
        type=int,
        default=None,
        help="LSH buckets probed per table for this query (default: the index's own; no rebuild needed)",
    )
    p.add_argument(
        "--cache-dir", default=None, help="local cache for S3 versions (default: IMAGESEARCH_CACHE_DIR)"
    )
    p.set_defaults(func=run_query)
