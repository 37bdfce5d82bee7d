"""`imagesearch ingest`: the command the IngestDocument runs (registered by imagesearch.cli.parser).

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

from imagesearch.cli.common import print_json, s3_client
from imagesearch.errors import SearchError
from imagesearch.ops.cache_warm import warm_result_cache
from imagesearch.ops.duplicates import write_duplicates
from imagesearch.s3vectors.sync import sync_vector_backend
from imagesearch.settings import Settings

# How long a batch waits for the one before it; below the document's execution timeout.
LOCK_TIMEOUT_S = 600.0
RELOAD_TIMEOUT_S = 120.0
def reload_daemon(socket_path: str) -> dict:
    """Ask the daemon to follow current.json now; it also polls, so an absent daemon is not a failure."""
    from imagesearch.agent.client import DaemonUnavailable, ask_daemon
    from imagesearch.agent.protocol import Request

    try:
        answer = ask_daemon(socket_path, Request("reload"), timeout=RELOAD_TIMEOUT_S)
    except (DaemonUnavailable, SearchError, OSError) as e:
        return {"ok": False, "message": f"daemon not reloaded ({e}); it picks the version up by polling"}
    return {"ok": bool(answer.get("ok")), "version": answer.get("version")}


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the batch named by --key (or SSM_key) and print its report."""
    from imagesearch import settings as settings_table
    from imagesearch.cli.common import configure_decoding
    from imagesearch.decode_budget import model_batch_cap
    from imagesearch.env_file import load_env_file
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.ops.ingest import apply_batch

    # Into this process's environment: boto3 reads AWS_DEFAULT_REGION / AWS_ENDPOINT_URL from it.
    environ = os.environ
    load_env_file(settings.env_file, environ)
    settings = settings_table.load(environ)
    configure_decoding(settings)  # the env file may name IMAGESEARCH_MEMORY_MIB
    key = args.key if args.key is not None else environ.get("SSM_key", "")
    bucket = args.bucket or settings_table.get("GALLERY_BUCKET", environ)
    if not bucket:
        raise SearchError("bad_request", "no gallery bucket: pass --bucket or set GALLERY_BUCKET")
    index_root = args.index or settings.index
    config = BuildConfig.from_settings(settings)
    # The model's activations grow with the batch (64 at 224 px: ~700 MiB); on the instance the
    # batch is capped so a run fits the process's memory beside the daemon (docs/agent.md, "Ingest").
    cap = model_batch_cap(settings_table.decode_budget(settings), config.input_size or 224)
    config = dataclasses.replace(config, batch_size=min(config.batch_size, cap))
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

    site_bucket = settings_table.get("SITE_BUCKET", environ)

    def after_apply(touched: list[str]) -> dict:
        # The site's display copies and album pages (docs/contracts.md, "Ingest"); made here because
        # the instance already reads and decodes each image (docs/contracts.md records why).
        from imagesearch.ops.site_listing import refresh_from_live

        return refresh_from_live(s3, site_bucket=site_bucket, gallery_bucket=bucket, index_root=index_root,
                                 touched=touched, max_bytes=config.limits.max_bytes)

    report = apply_batch(key, bucket=bucket, index_root=index_root, s3=s3, config=config,
                         cache_dir=config.cache_dir, lock_timeout_s=LOCK_TIMEOUT_S,
                         after_publish=after_publish, after_apply=after_apply if site_bucket else None)
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
