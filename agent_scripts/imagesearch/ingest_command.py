"""`imagesearch ingest`: the command the IngestDocument runs (registered by imagesearch.cli).

SSM passes the batch key only as SSM_key (interpolationType ENV_VAR), so no value is ever shell
text; the rest of the settings come from the instance's env file, as for the thin client. The
report is one JSON object on stdout (docs/contracts.md, "Ingest"); a failure exits non-zero so the
ingest function returns the batch to the queue.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from imagesearch.cli import print_json, s3_client
from imagesearch.errors import SearchError
from imagesearch.settings import Settings

# How long a batch waits for the one before it; below the document's execution timeout.
LOCK_TIMEOUT_S = 600.0
RELOAD_TIMEOUT_S = 120.0
# Up to this many indexed images the warm-up after a batch covers every one ("more like this"
# included); above it only the album images, so a batch stays well inside a minute.
WARM_ALL_MAX = 2000
# Up to this many images a batch also rewrites duplicates.json. Up to WARM_ALL_MAX it reuses the
# warm-up's search; above, it searches every image against every other itself, which grows with
# the square of the count (about a minute at 10,000 on 2 shared cores, 8 minutes at 30,000:
# docs/benchmarks.md), so above this publish writes it.
DUPLICATES_MAX = 10_000


def reload_daemon(socket_path: str) -> dict:
    """Ask the daemon to follow current.json now; it also polls, so an absent daemon is not a failure."""
    from imagesearch.client import DaemonUnavailable, ask_daemon
    from imagesearch.protocol import Request

    try:
        answer = ask_daemon(socket_path, Request("reload"), timeout=RELOAD_TIMEOUT_S)
    except (DaemonUnavailable, SearchError, OSError) as e:
        return {"ok": False, "message": f"daemon not reloaded ({e}); it picks the version up by polling"}
    return {"ok": bool(answer.get("ok")), "version": answer.get("version")}


def warm_result_cache(version: str, *, s3: Any, bucket: str, index_root: str, cache_dir: str,
                      settings: Settings, collected: list | None = None) -> dict:
    """Warm the new version's result cache (docs/contracts.md, "Ingest"); never fails the batch.

    Every indexed image when the index is small (WARM_ALL_MAX), else the images the page offers
    (the site's album rule applied to the index's gallery keys). Skipped when the daemon answers
    from elsewhere than this exact search: S3 Vectors, or a mode forced by IMAGESEARCH_MODE. A full
    warm-up also joins its top 10 into duplicate groups, appended to `collected` (write_duplicates).
    """
    if settings.backend != "instance":
        return {"ok": True, "warmed": False,
                "reason": f"backend {settings.backend}: the cache fills on misses"}
    if settings.mode:
        return {"ok": True, "warmed": False,
                "reason": "IMAGESEARCH_MODE overrides the index's default mode"}
    from site_albums import DEFAULT_PER_ALBUM, is_browsable

    from imagesearch.cache_warm import album_image_hashes, warm_version
    from imagesearch.open_index import OpenIndex

    try:
        index = OpenIndex.open(index_root, s3=s3, cache_dir=cache_dir, version=version)
        hashes = None if index.count <= WARM_ALL_MAX else album_image_hashes(index, DEFAULT_PER_ALBUM,
                                                                             is_browsable)
        collector = None
        if hashes is None and collected is not None:
            from imagesearch.duplicates import collector_for

            collector = collector_for(index)
        report = warm_version(s3, bucket, index, hashes=hashes,
                             observe=collector.observe if collector is not None else None)
        if collector is not None and not report.skipped:
            collected.append(collector)
    except SearchError as e:
        # The version is live already; its cache fills on misses instead.
        return {"ok": False, "warmed": False, "reason": f"{e.code}: {e.message}"[:300]}
    return {"ok": True, "warmed": not report.skipped, "scope": "all" if hashes is None else "albums",
            **report.as_dict()}


def write_duplicates(version: str, *, s3: Any, gallery_bucket: str, site_bucket: str, index_root: str,
                     cache_dir: str, max_bytes: int, collected: list | None = None) -> dict:
    """Rewrite the site's duplicates.json for the new version (docs/contracts.md); never fails the batch.

    `collected`: the groups the warm-up joined (warm_result_cache); else the search runs here.
    """
    if not site_bucket:
        return {"ok": False, "written": False, "reason": "no SITE_BUCKET in the instance's settings"}
    from botocore.exceptions import BotoCoreError, ClientError

    from imagesearch.duplicates import facts_from_bucket, find_duplicates, write_duplicates_json
    from imagesearch.open_index import OpenIndex

    try:
        index = OpenIndex.open(index_root, s3=s3, cache_dir=cache_dir, version=version)
        if index.count > DUPLICATES_MAX:
            return {"ok": True, "written": False,
                    "reason": f"{index.count} images, over {DUPLICATES_MAX}: publish writes duplicates.json"}
        doc = find_duplicates(index, facts_from_bucket(s3, gallery_bucket, max_bytes),
                              collected=collected[-1] if collected else None)
        size = write_duplicates_json(s3, site_bucket, doc)
    except SearchError as e:
        return {"ok": False, "written": False, "reason": f"{e.code}: {e.message}"[:300]}
    except (ClientError, BotoCoreError) as e:
        return {"ok": False, "written": False, "reason": f"cannot write duplicates.json: {e}"[:300]}
    return {"ok": True, "written": True, "groups": len(doc["groups"]), "bytes": size}


def sync_vector_backend(settings: Settings, index_root: str, version: str, *, s3: Any,
                        cache_dir: str | None, client: Any = None) -> dict:
    """With IMAGESEARCH_BACKEND=s3vectors, write the new version's vectors before the daemon reloads.

    The daemon refuses a vector index whose recorded version is not its own, so the sync comes first
    (docs/scale.md); with the in-memory backend there is nothing to do.
    """
    if settings.backend != "s3vectors":
        return {"backend": settings.backend}
    from imagesearch.s3vectors_backend import VectorIndexRef, make_client, sync_index_version

    ref = VectorIndexRef(settings.vector_bucket, settings.vector_index)
    report = sync_index_version(client if client is not None else make_client(), ref, index_root,
                                s3=s3, version=version, cache_dir=cache_dir)
    return {"backend": "s3vectors", **report._asdict()}


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the batch named by --key (or SSM_key) and print its report."""
    from imagesearch import settings as settings_table
    from imagesearch.build_config import BuildConfig
    from imagesearch.env_file import load_env_file
    from imagesearch.ingest import apply_batch

    # Into this process's environment: boto3 reads AWS_DEFAULT_REGION / AWS_ENDPOINT_URL from it.
    environ = os.environ
    load_env_file(settings.env_file, environ)
    settings = settings_table.load(environ)
    key = args.key if args.key is not None else environ.get("SSM_key", "")
    bucket = args.bucket or settings_table.get("GALLERY_BUCKET", environ)
    if not bucket:
        raise SearchError("bad_request", "no gallery bucket: pass --bucket or set GALLERY_BUCKET")
    index_root = args.index or settings.index
    config = BuildConfig.from_settings(settings)
    if args.cache_dir:
        config = dataclasses.replace(config, cache_dir=args.cache_dir)

    s3: Any = s3_client()

    def after_publish(version: str) -> dict:
        vectors = sync_vector_backend(settings, index_root, version, s3=s3, cache_dir=config.cache_dir)
        collected: list = []  # the warm-up's top 10 joined into duplicate groups, reused below
        return {"vectors": vectors, "reload": reload_daemon(args.socket or settings.socket),
                "cache": warm_result_cache(version, s3=s3, bucket=bucket, index_root=index_root,
                                           cache_dir=config.cache_dir, settings=settings,
                                           collected=collected),
                "duplicates": write_duplicates(version, s3=s3, gallery_bucket=bucket,
                                               site_bucket=settings_table.get("SITE_BUCKET", environ),
                                               index_root=index_root, cache_dir=config.cache_dir,
                                               max_bytes=config.limits.max_bytes, collected=collected)}

    report = apply_batch(key, bucket=bucket, index_root=index_root, s3=s3, config=config,
                         cache_dir=config.cache_dir, lock_timeout_s=LOCK_TIMEOUT_S,
                         after_publish=after_publish)
    print_json(report)
    return 0


def add_ingest_command(sub: Any) -> None:
    """Register `ingest`."""
    p = sub.add_parser(
        "ingest",
        help="apply an ingest batch (ingest/<id>.json) to the index as one new version",
        description="Read the batch object from the gallery bucket, add and remove its images as one "
        "new index version, publish it and ask the daemon to reload. The key comes from --key or SSM_key.",
    )
    p.add_argument("--key", default=None, help="batch key ingest/<id>.json (default: $SSM_key)")
    p.add_argument("--bucket", default=None, help="gallery bucket (default: $GALLERY_BUCKET)")
    p.add_argument("--index", default=None, help="index root (default: IMAGESEARCH_INDEX)")
    p.add_argument("--socket", default=None, help="daemon socket (default: IMAGESEARCH_SOCKET)")
    p.add_argument("--cache-dir", default=None, help="local cache (default: IMAGESEARCH_CACHE_DIR)")
    p.set_defaults(func=run_ingest)
