"""Warm the result cache of the live index version at publish (the engine's warm-up, with progress).

The work itself is the engine's (imagesearch.ops.cache_warm, which `imagesearch ingest` runs on the
instance too): the top 10 of every indexed image (or only of the album images), equal to the
daemon's answer, written under `cache/<version>/`, other versions pruned.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagesearch.ops.cache_warm import MARKER, WarmReport, cached_versions

from publish.uploader import DEFAULT_CONCURRENCY, Counts, PublishError

__all__ = ["MARKER", "WarmReport", "cached_versions", "warm_cache", "warm_counts"]


def warm_counts(report: WarmReport) -> Counts:
    """As a publish step: entries written, or one unchanged marker when the version was warm."""
    return Counts(0, 1) if report.skipped else Counts(report.entries, 0)


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
    observer: Callable[[Any], Callable[[str, list[dict]], None] | None] | None = None,
) -> WarmReport:
    """Write the top 10 of every indexed image (or of `hashes` only) for the live version.

    `work_dir` keeps the fetched index arrays (default: a temporary folder). `index_root`: where
    the index is read (default s3://<gallery>/index; the bench passes a local copy). `observer(index)`
    may return a callback that sees each image's top 10 (publish joins them into duplicate groups).
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="cache-warm-") as tmp:
            return warm_cache(s3, gallery_bucket, work_dir=Path(tmp), hashes=hashes, force=force,
                              concurrency=concurrency, progress=progress, index_root=index_root,
                              observer=observer)
    from imagesearch.errors import SearchError
    from imagesearch.index.opened import OpenIndex
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, open_store
    from imagesearch.ops.cache_warm import images_to_warm, warm_version  # numpy: imported when used
    from tqdm import tqdm

    index_root = index_root or f"s3://{gallery_bucket}/{GALLERY_INDEX_PREFIX}"
    try:
        store = open_store(index_root, s3=s3)
        version = store.read_current()
        if version is None:
            return WarmReport(version=None, skipped=True)
        index = OpenIndex.open(store, s3=s3, cache_dir=str(work_dir), version=version)
        with tqdm(total=images_to_warm(index, hashes), desc=f"cache {version}", unit="img",
                  disable=not progress, leave=False) as bar:
            return warm_version(s3, gallery_bucket, index, hashes=hashes, force=force,
                                concurrency=concurrency, progress=bar.update,
                                observe=observer(index) if observer is not None else None)
    except SearchError as e:
        raise PublishError(f"cannot warm the result cache ({e.code}): {e.message}") from e
