"""The `imagesearch` command: sample data, index build/add/remove/retable/info, query.

Heavy imports (MXNet, numpy) happen inside the command functions so `imagesearch --help` is fast.
Another module adds subcommands through a register function taking the subparsers object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from imagesearch import settings
from imagesearch.errors import SearchError


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def _needs_s3(*values: str | None) -> bool:
    return any(v and v.startswith("s3://") for v in values)


def _print(obj: dict) -> None:
    print(json.dumps(obj, indent=2))


def _progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


# --- sample-data --------------------------------------------------------------------------


def run_sample_data(args: argparse.Namespace) -> int:
    """Write a procedural texture collection."""
    from imagesearch.sample_data import generate

    counts = generate(args.out, count=args.count, seed=args.seed, size=args.size)
    _print({"ok": True, "out": args.out, "count": sum(counts.values()), "albums": counts})
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


# --- index --------------------------------------------------------------------------------


def run_index_build(args: argparse.Namespace) -> int:
    """Build a new index version and print the build report."""
    from imagesearch.build import build_index

    lsh = _lsh_params(args)
    s3 = _s3_client() if _needs_s3(args.images, args.out, args.weights) else None
    report = build_index(
        args.images,
        args.out,
        s3=s3,
        weights=args.weights,
        size=args.size,
        key_prefix=args.key_prefix,
        lsh=lsh,
        cache_dir=args.cache_dir,
        if_changed=args.if_changed,
        progress=_progress(args),
    )
    _print(report)
    return 0


def run_index_add(args: argparse.Namespace) -> int:
    """Add images to the live version and print the report."""
    from imagesearch.build import add_images

    s3 = _s3_client() if _needs_s3(args.images, args.index) else None
    _print(
        add_images(
            args.images,
            args.index,
            s3=s3,
            key_prefix=args.key_prefix,
            cache_dir=args.cache_dir,
            progress=_progress(args),
        )
    )
    return 0


def run_index_remove(args: argparse.Namespace) -> int:
    """Remove keys from the live version and print the report."""
    from imagesearch.build import remove_images

    if not args.key and not args.prefix:
        raise SearchError("bad_request", "name at least one --key or --prefix to remove")
    s3 = _s3_client() if _needs_s3(args.index) else None
    _print(
        remove_images(
            args.index, keys=args.key or (), prefixes=args.prefix or (), s3=s3, cache_dir=args.cache_dir
        )
    )
    return 0


def run_index_retable(args: argparse.Namespace) -> int:
    """Rebuild the live version's LSH tables with new parameters and print the report."""
    from imagesearch.build import retable

    s3 = _s3_client() if _needs_s3(args.index) else None
    _print(retable(args.index, _lsh_params(args), s3=s3, cache_dir=args.cache_dir))
    return 0


def _lsh_params(args: argparse.Namespace) -> Any:
    from imagesearch.build import lsh_params_from_settings
    from imagesearch.index import LshParams

    base = lsh_params_from_settings()
    return LshParams(
        tables=args.tables or base.tables,
        bits=base.bits if args.bits is None else args.bits,
        probes=args.probes or base.probes,
        seed=base.seed,
    )


def _lsh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", type=int, default=None, help="LSH tables (default: IMAGESEARCH_LSH_TABLES)")
    p.add_argument(
        "--bits", type=int, default=None, help="bits per LSH table, 0 = auto (default: IMAGESEARCH_LSH_BITS)"
    )
    p.add_argument(
        "--probes", type=int, default=None, help="buckets probed per table (default: IMAGESEARCH_LSH_PROBES)"
    )


def run_index_info(args: argparse.Namespace) -> int:
    """Print the manifest of the live (or a named) version."""
    from imagesearch.artifacts import list_versions, read_current, read_manifest

    s3 = _s3_client() if _needs_s3(args.index) else None
    current = read_current(args.index, s3)
    version = args.version or current
    if version is None:
        raise SearchError("index_unavailable", f"no index at {args.index} (no current.json)")
    manifest = read_manifest(args.index, version, s3=s3)  # the manifest alone: no arrays fetched
    _print(
        {"ok": True, "current": current, "versions": list_versions(args.index, s3=s3), "manifest": manifest}
    )
    return 0


def _index_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        default=None,
        help="local cache for S3 versions and weights (default: IMAGESEARCH_CACHE_DIR)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_index_commands(sub: Any) -> None:
    """Register `index build|add|remove|retable|info`."""
    index = sub.add_parser(
        "index", help="build and maintain an index", description="Build and maintain an index."
    )
    isub = index.add_subparsers(
        dest="index_command", required=True, metavar="{build,add,remove,retable,info}"
    )

    p = isub.add_parser(
        "build",
        help="index a folder of albums or an S3 prefix as a new version",
        description="Featurize every image and publish a new index version (then move current.json).",
    )
    p.add_argument(
        "--images", required=True, help="folder with one subfolder per album, or s3://bucket/prefix"
    )
    p.add_argument("--out", required=True, help="index root: a folder or s3://bucket/prefix")
    p.add_argument(
        "--weights",
        default=None,
        help="FILE.params, s3://bucket/key.params, pretrained, or seed:N (offline, not pretrained); "
        "default: IMAGESEARCH_WEIGHTS",
    )
    p.add_argument(
        "--size", type=int, default=None, help="featurizer input size in px (default: IMAGESEARCH_INPUT_SIZE)"
    )
    p.add_argument("--key-prefix", default="gallery/", help="key prefix for local folders (default gallery/)")
    _lsh_options(p)
    p.add_argument(
        "--if-changed",
        action="store_true",
        help="do nothing when the live version has the same images, weights and size",
    )
    _index_common(p)
    p.set_defaults(func=run_index_build)

    p = isub.add_parser(
        "add",
        help="add or replace images without re-featurizing the rest",
        description="Add images (same layout as build) to the live version as a new version.",
    )
    p.add_argument("--index", required=True, help="index root: a folder or s3://bucket/prefix")
    p.add_argument(
        "--images", required=True, help="folder with one subfolder per album, or s3://bucket/prefix"
    )
    p.add_argument("--key-prefix", default="gallery/", help="key prefix for local folders (default gallery/)")
    _index_common(p)
    p.set_defaults(func=run_index_add)

    p = isub.add_parser(
        "remove",
        help="remove images by key or key prefix",
        description="Remove keys from the live version as a new version.",
    )
    p.add_argument("--index", required=True, help="index root: a folder or s3://bucket/prefix")
    p.add_argument("--key", action="append", help="a key to remove (repeatable)")
    p.add_argument("--prefix", action="append", help="remove every key starting with this (repeatable)")
    _index_common(p)
    p.set_defaults(func=run_index_remove)

    p = isub.add_parser(
        "retable",
        help="rebuild the LSH tables with new parameters (no model needed)",
        description="Rebuild the live version's LSH tables and recall figures from its stored vectors.",
    )
    p.add_argument("--index", required=True, help="index root: a folder or s3://bucket/prefix")
    _lsh_options(p)
    _index_common(p)
    p.set_defaults(func=run_index_retable)

    p = isub.add_parser(
        "info",
        help="print the live version's manifest",
        description="Print the current version id, the versions present and a manifest.",
    )
    p.add_argument("--index", required=True, help="index root: a folder or s3://bucket/prefix")
    p.add_argument("--version", default=None, help="a version id (default: the live one)")
    _index_common(p)
    p.set_defaults(func=run_index_info)


# --- query --------------------------------------------------------------------------------


def run_query(args: argparse.Namespace) -> int:
    """Search with one image and print the agent JSON."""
    from imagesearch.s3io import parse_s3_uri, read_s3_capped
    from imagesearch.searcher import Searcher

    if args.k < 1:
        raise SearchError("bad_request", f"k must be at least 1, not {args.k}")
    s3 = _s3_client() if _needs_s3(args.index, args.image) else None
    max_bytes = int(settings.get("IMAGESEARCH_MAX_IMAGE_BYTES"))
    if args.image.startswith("s3://"):
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
    searcher = Searcher.open(args.index, s3=s3, cache_dir=args.cache_dir)
    _print(searcher.search_bytes(data, args.k, mode=args.mode))
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
        "--cache-dir", default=None, help="local cache for S3 versions (default: IMAGESEARCH_CACHE_DIR)"
    )
    p.set_defaults(func=run_query)


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full `imagesearch` parser, every subcommand registered."""
    parser = argparse.ArgumentParser(prog="imagesearch", description="Visual image search: engine and agent.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sample_data_command(sub)
    add_index_commands(sub)
    add_query_command(sub)
    # >>> agent commands (serve, health, reload) live in imagesearch/daemon.py; its module is imported
    # here but its heavy dependencies load only when one of them runs.
    from imagesearch.daemon import add_daemon_commands

    add_daemon_commands(sub)
    # <<< agent commands
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; a SearchError prints its error JSON and exits non-zero."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SearchError as e:
        _print(e.to_json())
        return 1


if __name__ == "__main__":
    sys.exit(main())
