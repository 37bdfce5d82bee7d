"""Warm the result cache of the live index version, and drop the entries of every other version.

After the index step, the top 10 of every indexed image (or only of the album images) is computed
with the engine's batch search (imagesearch.batch_search, equal to the daemon's answer) and
written to `cache/<version>/<sha256>.json` in the gallery bucket, the keys and format of
functions/search/cache_entries.py (loaded from that one file). A marker `cache/<version>/warm.json`
makes a second publish of the same version skip the work.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from publish.uploader import DEFAULT_CONCURRENCY, Counts, PublishError

ENTRIES_FILE = Path(__file__).resolve().parent.parent / "functions" / "search" / "cache_entries.py"
MARKER = "warm.json"
SCOPES = ("all", "albums")


def entries_module() -> ModuleType:
    """The function's own cache_entries.py (stdlib only), so both sides share one key and format."""
    spec = importlib.util.spec_from_file_location("cache_entries", ENTRIES_FILE)
    if spec is None or spec.loader is None:
        raise PublishError(f"cannot load {ENTRIES_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class WarmReport:
    """What one warm-up did: entries written, their bytes, seconds computing and in total."""

    version: str | None
    entries: int = 0
    bytes: int = 0
    compute_s: float = 0.0
    total_s: float = 0.0
    pruned: int = 0
    skipped: bool = False

    @property
    def counts(self) -> Counts:
        """As a publish step: entries written, or one unchanged marker when the version was warm."""
        return Counts(0, 1) if self.skipped else Counts(self.entries, 0)


def cached_versions(s3, bucket: str, entries: ModuleType) -> list[str]:
    """The versions that have entries under cache/."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{entries.CACHE_PREFIX}/", Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            name = p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
            if entries.VERSION_RE.fullmatch(name):
                found.append(name)
    return sorted(found)


def prune(s3, bucket: str, keep: str, entries: ModuleType) -> int:
    """Delete every cache entry of a version other than `keep`; how many objects went.

    The bucket's lifecycle rule on cache/ is the safety net for anything this misses.
    """
    removed = 0
    for version in cached_versions(s3, bucket, entries):
        if version == keep:
            continue
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=entries.version_prefix(version)):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                # A listing page holds at most 1,000 keys, the most one DeleteObjects takes.
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
    return removed


def _is_warm(s3, bucket: str, version: str, entries: ModuleType) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=entries.version_prefix(version) + MARKER)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def warm_cache(
    s3,
    gallery_bucket: str,
    *,
    work_dir: Path | None = None,
    hashes: list[str] | None = None,
    force: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    index_root: str | None = None,
) -> WarmReport:
    """Write the top 10 of every indexed image (or of `hashes` only) for the live version.

    Old versions' entries are pruned first. Skipped when the live version is already warm
    (its marker exists), unless `force`. `work_dir` keeps the fetched index arrays (default: a
    temporary folder). `index_root`: where the index is read (default s3://<gallery>/index; the
    bench passes a local copy).
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="cache-warm-") as tmp:
            return warm_cache(s3, gallery_bucket, work_dir=Path(tmp), hashes=hashes, force=force,
                              concurrency=concurrency, progress=progress, index_root=index_root)
    from imagesearch.batch_search import distinct_images, top_matches
    from imagesearch.errors import SearchError
    from imagesearch.open_index import OpenIndex
    from imagesearch.querying import index_summary
    from imagesearch.storage import GALLERY_INDEX_PREFIX, open_store  # numpy: imported when used

    started = time.perf_counter()
    entries = entries_module()
    index_root = index_root or f"s3://{gallery_bucket}/{GALLERY_INDEX_PREFIX}"
    try:
        store = open_store(index_root, s3=s3)
        version = store.read_current()
        if version is None:
            return WarmReport(version=None, skipped=True)
        pruned = prune(s3, gallery_bucket, version, entries)
        if not force and _is_warm(s3, gallery_bucket, version, entries):
            return WarmReport(version=version, pruned=pruned, skipped=True)
        index = OpenIndex.open(store, s3=s3, cache_dir=str(work_dir), version=version)
    except SearchError as e:
        raise PublishError(f"cannot open the live index to warm the cache ({e.code}): {e.message}") from e
    except (ClientError, BotoCoreError) as e:
        raise PublishError(f"cannot read the cache's versions in s3://{gallery_bucket}: {e}") from e
    # The daemon answers in the index's default mode unless its IMAGESEARCH_MODE says otherwise
    # (docs/function.md); the cache holds that default-mode answer.
    mode = index.default_mode
    summary = index_summary(index, mode)
    total = len(distinct_images(index)) if hashes is None else len(set(hashes))
    written, size, compute_s, failed = 0, 0, 0.0, []

    def put(key: str, body: bytes) -> None:
        s3.put_object(Bucket=gallery_bucket, Key=key, Body=body, ContentType="application/json")

    with (tqdm(total=total, desc=f"cache {version}", unit="img", disable=not progress, leave=False) as bar,
          ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cache") as pool):
        futures = []
        t0 = time.perf_counter()
        for digest, results in top_matches(index, k=entries.TOP, mode=mode, hashes=hashes):
            body = entries.encode_entry(version, digest, results, summary, "warm")
            futures.append((digest, pool.submit(put, entries.entry_key(version, digest), body)))
            size += len(body)
            bar.update(1)
        compute_s = time.perf_counter() - t0
        for digest, future in futures:
            try:
                future.result()
                written += 1
            except (ClientError, BotoCoreError) as e:
                failed.append(f"{digest[:12]}: {e}")
    if failed:
        raise PublishError(f"{len(failed)} cache entries could not be written, first: {failed[0]}")
    marker = {"version": version, "entries": written, "bytes": size, "mode": mode,
              "seconds": round(time.perf_counter() - started, 3)}
    put(entries.version_prefix(version) + MARKER, json.dumps(marker).encode())
    return WarmReport(version=version, entries=written, bytes=size, compute_s=compute_s,
                      total_s=time.perf_counter() - started, pruned=pruned)
