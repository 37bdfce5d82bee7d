"""The `imagesearch` command: sample data and query here; index commands in imagesearch.index_commands.

Heavy imports (MXNet, numpy) happen inside the command functions so `imagesearch --help` is fast.
Another module adds subcommands through a register function taking the subparsers object. `main`
loads the settings once and hands the typed record to every command function `(args, settings)`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from imagesearch import settings as settings_table
from imagesearch.errors import SearchError
from imagesearch.settings import Settings


def s3_client() -> Any:
    """The S3 client of a command that reads or writes an s3:// location."""
    import boto3

    return boto3.client("s3")


def needs_s3(*values: str | None) -> bool:
    """Whether any of the command's locations is an s3:// URI."""
    from imagesearch.s3io import is_s3_uri

    return any(v and is_s3_uri(v) for v in values)


def print_json(obj: dict) -> None:
    """Print a command's JSON answer on stdout."""
    print(json.dumps(obj, indent=2))


def progress_bar(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: not with --quiet, and only on a terminal."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


# --- sample-data --------------------------------------------------------------------------


def run_sample_data(args: argparse.Namespace, settings: Settings) -> int:
    """Write a procedural texture collection."""
    from imagesearch.sample_data import generate

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


# --- query --------------------------------------------------------------------------------


def run_query(args: argparse.Namespace, settings: Settings) -> int:
    """Search with one image and print the agent JSON."""
    from imagesearch.open_index import OpenIndex, QueryConfig
    from imagesearch.querying import search_image_bytes
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


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full `imagesearch` parser, every subcommand registered."""
    parser = argparse.ArgumentParser(prog="imagesearch", description="Visual image search: engine and agent.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sample_data_command(sub)
    # The index commands live in imagesearch/index_commands.py (they import this module's helpers).
    from imagesearch.index_commands import add_index_commands

    add_index_commands(sub)
    add_query_command(sub)
    # Operator tooling: obtain and verify pretrained weights (imagesearch/weights_fetch.py).
    from imagesearch.weights_fetch import add_weights_commands

    add_weights_commands(sub)
    # >>> agent commands (serve, health, reload) live in imagesearch/daemon_commands.py; its module
    # is imported here but its heavy dependencies load only when one of them runs.
    from imagesearch.daemon_commands import add_daemon_commands

    add_daemon_commands(sub)
    # <<< agent commands
    from imagesearch.ingest_command import add_ingest_command

    add_ingest_command(sub)
    # Operator tooling: re-index the gallery on Lambda (imagesearch/reindex_command.py).
    from imagesearch.reindex_command import add_reindex_command

    add_reindex_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; a SearchError prints its error JSON and exits non-zero."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, settings_table.load()) or 0)
    except SearchError as e:
        print_json(e.to_json())
        return 1


if __name__ == "__main__":
    sys.exit(main())
