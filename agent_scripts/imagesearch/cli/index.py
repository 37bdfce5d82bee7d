"""The `imagesearch index build|add|remove|retable|info` commands (registered by imagesearch.cli).

Each command function takes the parsed arguments and the settings record `imagesearch.cli.parser`
loaded once; heavy imports happen inside them so `imagesearch --help` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from imagesearch.cli.common import needs_s3, print_json, progress_bar, s3_client
from imagesearch.errors import SearchError
from imagesearch.settings import Settings


def _build_config(args: argparse.Namespace, settings: Settings) -> Any:
    """The build parameters of the settings, with this command's --tables/--bits/--probes applied."""
    import dataclasses

    from imagesearch.index.build_params import BuildConfig

    config = BuildConfig.from_settings(settings)
    if not hasattr(args, "tables"):
        return config
    lsh = dataclasses.replace(
        config.lsh,
        tables=args.tables or config.lsh.tables,
        bits=config.lsh.bits if args.bits is None else args.bits,
    )
    return dataclasses.replace(config, lsh=lsh, probes=args.probes or config.probes)


def run_index_build(args: argparse.Namespace, settings: Settings) -> int:
    """Build a new index version and print the build report."""
    from imagesearch.ops.build import build_index

    s3 = s3_client() if needs_s3(args.images, args.out, args.weights) else None
    report = build_index(
        args.images,
        args.out,
        config=_build_config(args, settings),
        s3=s3,
        weights=args.weights,
        size=args.size,
        key_prefix=args.key_prefix,
        cache_dir=args.cache_dir,
        if_changed=args.if_changed,
        progress=progress_bar(args),
        near_duplicate_set=args.near_duplicate_set,
    )
    print_json(report)
    return 0


def run_index_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add images to the live version and print the report."""
    from imagesearch.ops.build import add_images

    s3 = s3_client() if needs_s3(args.images, args.index) else None
    print_json(
        add_images(
            args.images,
            args.index,
            config=_build_config(args, settings),
            s3=s3,
            key_prefix=args.key_prefix,
            cache_dir=args.cache_dir,
            progress=progress_bar(args),
        )
    )
    return 0


def run_index_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Remove keys from the live version and print the report."""
    from imagesearch.ops.build import remove_images

    if not args.key and not args.prefix:
        raise SearchError("bad_request", "name at least one --key or --prefix to remove")
    s3 = s3_client() if needs_s3(args.index) else None
    print_json(
        remove_images(
            args.index,
            keys=args.key or (),
            prefixes=args.prefix or (),
            config=_build_config(args, settings),
            s3=s3,
            cache_dir=args.cache_dir,
        )
    )
    return 0


def run_index_retable(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the live version's LSH tables with new parameters and print the report."""
    from imagesearch.ops.build import retable

    s3 = s3_client() if needs_s3(args.index) else None
    config = _build_config(args, settings)
    print_json(
        retable(args.index, config.lsh, probes=config.probes, config=config, s3=s3, cache_dir=args.cache_dir)
    )
    return 0


def _lsh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", type=int, default=None, help="LSH tables (default: IMAGESEARCH_LSH_TABLES)")
    p.add_argument(
        "--bits", type=int, default=None, help="bits per LSH table, 0 = auto (default: IMAGESEARCH_LSH_BITS)"
    )
    p.add_argument(
        "--probes",
        type=int,
        default=None,
        help="default buckets probed per table per query, recorded in the manifest "
        "(default: IMAGESEARCH_LSH_PROBES; a query may ask for others)",
    )


def run_index_info(args: argparse.Namespace, settings: Settings) -> int:
    """Print the manifest of the live (or a named) version."""
    from imagesearch.index.storage import open_store

    store = open_store(args.index, s3=s3_client() if needs_s3(args.index) else None)
    current = store.read_current()
    version = args.version or current
    if version is None:
        raise SearchError("index_unavailable", f"no index at {args.index} (no current.json)")
    manifest = store.read_manifest(version)  # the manifest alone: no arrays fetched
    model = manifest.get("model", {})
    print_json({"ok": True, "current": current, "versions": store.list_versions(),
                "input_size": model.get("input_size"), "input_size_from": model.get("input_size_from"),
                "weights": manifest.get("weights"), "bands": band_summary(manifest.get("bands")),
                # The files the index could not use, by key and reason (imagesearch.index.skipped).
                "skipped": len(manifest.get("skipped_files", [])),
                "skipped_files": manifest.get("skipped_files", []), "manifest": manifest})
    return 0


def band_summary(bands: dict | None) -> dict | None:
    """The score bands `index info` shows first: thresholds and how each was obtained."""
    if not bands:
        return None
    return {"near_duplicate": bands["near_duplicate"], "similar": bands["similar"], "rule": bands["rule"],
            "near_duplicate_from": bands["near_duplicate_from"].get("method"),
            "similar_from": bands["similar_from"].get("method")}


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
        "--size", type=int, default=None,
        help="featurizer input size in px (default: IMAGESEARCH_INPUT_SIZE; unset: 224 for pretrained "
        "weights, 32 for seed:N)"
    )
    p.add_argument("--key-prefix", default="gallery/", help="key prefix for local folders (default gallery/)")
    _lsh_options(p)
    p.add_argument(
        "--if-changed",
        action="store_true",
        help="do nothing when the live version has the same images, weights and size",
    )
    p.add_argument(
        "--near-duplicate-set",
        action="store_true",
        help="measure the near-duplicate score band on the labelled set generated from scikit-image's "
        "photographs (needs scikit-image: the operator's machine; publish does this); without it the "
        "band is halfway from the similar band to 1.0",
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
