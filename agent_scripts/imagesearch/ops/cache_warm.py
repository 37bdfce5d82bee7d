"""Warm the result cache of an index version, and drop the entries of every other version.

The top 10 of every indexed image (or of chosen ones) is computed with the engine's batch search
(imagesearch.index.batch_search, equal to the daemon's answer) and written to
`cache/<version>/<sha256>.json` in the gallery bucket, in the keys and format of the shared
`cache_entries` package (docs/contracts.md, "Result cache"). A marker `cache/<version>/warm.json`
makes a second warm-up of the same version skip the work. `make publish` (publish/cache_warm.py)
and `imagesearch ingest` (after each new version) both run this one warm-up.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cache_entries as entries
from botocore.exceptions import BotoCoreError, ClientError

from imagesearch.errors import SearchError
from imagesearch.settings import Settings

MARKER = "warm.json"
DEFAULT_CONCURRENCY = 16
_MISSING = {"404", "NoSuchKey", "NotFound"}


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

    def as_dict(self) -> dict:
        """JSON-ready, for command reports."""
        return {"version": self.version, "entries": self.entries, "bytes": self.bytes,
                "compute_s": round(self.compute_s, 3), "total_s": round(self.total_s, 3),
                "pruned": self.pruned, "skipped": self.skipped}


def cached_versions(s3: Any, bucket: str) -> list[str]:
    """The versions that have entries under cache/."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{entries.CACHE_PREFIX}/", Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            name = p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
            if entries.VERSION_RE.fullmatch(name):
                found.append(name)
    return sorted(found)


def prune(s3: Any, bucket: str, keep: str) -> int:
    """Delete every cache entry of a version other than `keep`; how many objects went.

    The bucket's lifecycle rule on cache/ is the safety net for anything this misses.
    """
    removed = 0
    for version in cached_versions(s3, bucket):
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


def is_warm(s3: Any, bucket: str, version: str) -> bool:
    """Whether `version` has its warm-up marker."""
    try:
        s3.head_object(Bucket=bucket, Key=entries.version_prefix(version) + MARKER)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in _MISSING:
            return False
        raise
    return True


def album_image_hashes(index: Any, per_album: int, is_browsable: Callable[[str], bool]) -> list[str]:
    """The hashes of the images the page offers: per album, the first per_album browsable files.

    The same rule as the site's listing (site_albums), applied to the index's gallery keys.
    """
    by_album: dict[str, list[tuple[str, str]]] = {}
    for digest, rows in index._rows_by_hash.items():
        for row in rows:
            key = index.key(int(row))
            album, name = posixpath.split(key.removeprefix("gallery/"))
            if album and "/" not in album and is_browsable(name):
                by_album.setdefault(album, []).append((name, digest))
    hashes: list[str] = []
    for files in by_album.values():
        hashes += [digest for _, digest in sorted(files)[:per_album]]
    return list(dict.fromkeys(hashes))


def warm_version(
    s3: Any,
    bucket: str,
    index: Any,
    *,
    hashes: list[str] | None = None,
    force: bool = False,
    prune_others: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int], None] | None = None,
    observe: Callable[[str, list[dict]], None] | None = None,
) -> WarmReport:
    """Write the top 10 of every image of the open `index` (or of `hashes` only) for its version.

    `observe(hash, matches)` sees each image's top 10 as it is computed (the duplicate finder joins
    them into groups: imagesearch.ops.duplicates.GroupCollector), so that search runs once.
    Other versions' entries are pruned first when `prune_others`. Skipped when the version is
    already warm (its marker exists), unless `force`. S3 failures raise SearchError("internal").
    """
    from imagesearch.index.batch_search import top_matches  # numpy: when used
    from imagesearch.index.calibration import with_bands
    from imagesearch.index.opened import index_summary

    started = time.perf_counter()
    version = index.version
    try:
        pruned = prune(s3, bucket, version) if prune_others else 0
        if not force and is_warm(s3, bucket, version):
            return WarmReport(version=version, pruned=pruned, skipped=True)
    except (ClientError, BotoCoreError) as e:
        raise SearchError("internal", f"cannot read the result cache's versions in s3://{bucket}: {e}") from e
    # The daemon answers in the index's default mode unless its IMAGESEARCH_MODE says otherwise
    # (docs/function.md); the cache holds that default-mode answer.
    mode = index.default_mode
    summary = index_summary(index, mode)
    written, size, failed = 0, 0, []

    def put(key: str, body: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cache") as pool:
        futures = []
        t0 = time.perf_counter()
        for digest, results in top_matches(index, k=entries.TOP, mode=mode, hashes=hashes):
            body = entries.encode_entry(version, digest, with_bands(results, index.manifest.get("bands")),
                                        summary, "warm")
            futures.append((digest, pool.submit(put, entries.entry_key(version, digest), body)))
            if observe is not None:
                observe(digest, results)
            size += len(body)
            if progress is not None:
                progress(1)
        compute_s = time.perf_counter() - t0
        for digest, future in futures:
            try:
                future.result()
                written += 1
            except (ClientError, BotoCoreError) as e:
                failed.append(f"{digest[:12]}: {e}")
    if failed:
        raise SearchError("internal", f"{len(failed)} cache entries could not be written, first: {failed[0]}")
    marker = {"version": version, "entries": written, "bytes": size, "mode": mode,
              "seconds": round(time.perf_counter() - started, 3)}
    try:
        put(entries.version_prefix(version) + MARKER, json.dumps(marker).encode())
    except (ClientError, BotoCoreError) as e:
        raise SearchError("internal", f"cannot write the warm-up marker of {version}: {e}") from e
    return WarmReport(version=version, entries=written, bytes=size, compute_s=compute_s,
                      total_s=time.perf_counter() - started, pruned=pruned)


def images_to_warm(index: Any, hashes: list[str] | None) -> int:
    """How many entries a warm-up of `hashes` (None: every image) writes at most."""
    from imagesearch.index.batch_search import distinct_images

    return len(distinct_images(index)) if hashes is None else len(set(hashes))


# Up to this many indexed images the warm-up after a batch covers every one ("more like this"
# included); above it only the album images, so a batch stays well inside a minute.
WARM_ALL_MAX = 2000


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

    from imagesearch.index.opened import OpenIndex

    try:
        index = OpenIndex.open(index_root, s3=s3, cache_dir=cache_dir, version=version)
        hashes = None if index.count <= WARM_ALL_MAX else album_image_hashes(index, DEFAULT_PER_ALBUM,
                                                                             is_browsable)
        collector = None
        if hashes is None and collected is not None:
            from imagesearch.ops.duplicates import collector_for

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
