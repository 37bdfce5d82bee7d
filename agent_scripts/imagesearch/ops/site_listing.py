"""Bring the site's display copies and album listing in line with one index version.

Used by `publish` (every album, the bytes read from the images folder) and by `imagesearch ingest`
(the albums a batch touched, the bytes read from the gallery bucket). What is listed is what the
version holds (its keys and content hashes) minus the files it records as skipped
(imagesearch.index.skipped); a bucket listing never decides. An image whose listed hash is unchanged keeps
its copies and entry; any other gets a new thumbnail and preview (imagesearch.model.display) first, so a
listing never names a copy that is not there yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from site_albums import (
    album_of_key,
    index_summary,
    listed_albums,
    merge_albums_json,
    read_album_images,
    skipped_by_album,
    write_album,
)

from imagesearch.errors import SearchError
from imagesearch.model.display import CACHE_CONTROL, CONTENT_TYPE, display_key, make_display_copies

# Display copies decoded at once on the instance (a JPEG is decoded at reduced scale, other formats
# whole: two keep a t3.micro's memory for the daemon); publish passes its own concurrency.
COPY_WORKERS = 2


@dataclass
class SiteUpdate:
    """What one update did to the site bucket (the ingest report's `site`)."""

    albums: list[str] = field(default_factory=list)
    listed: int = 0
    copied: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"albums": self.albums[:50], "listed": self.listed, "copied": self.copied,
                "skipped": self.skipped, "failed": self.failed[:20]}


def put_display_copies(s3: Any, site_bucket: str, gallery_key: str, data: bytes) -> dict:
    """Make and upload a gallery image's thumb and preview; its listing row (without the key's hash)."""
    made = make_display_copies(data)
    for prefix, body in made.copies.items():
        s3.put_object(Bucket=site_bucket, Key=display_key(prefix, gallery_key), Body=body,
                      ContentType=CONTENT_TYPE, CacheControl=CACHE_CONTROL)
    return {"width": made.width, "height": made.height, "bytes": len(data)}


def refresh_albums(
    s3: Any,
    site_bucket: str,
    *,
    keys: list[str],
    hashes: list[str],
    manifest: dict,
    read: Callable[[str], bytes],
    albums: Iterable[str] | None = None,
    changed: Iterable[str] = (),
    workers: int = COPY_WORKERS,
) -> SiteUpdate:
    """Rewrite the listing of `albums` (None: every album, and albums.json is replaced whole).

    `keys`/`hashes` are the version's rows, `manifest` its manifest (summary and skipped files),
    `read(gallery_key)` the image's bytes, `changed` gallery keys whose copies are made again even
    if their hash is listed already.
    """
    skipped_files = manifest.get("skipped_files", [])
    refused = {s.get("key") for s in skipped_files}
    by_album: dict[str, dict[str, str]] = {}
    for key, digest in zip(keys, hashes, strict=True):
        album = album_of_key(key)
        if album is not None and key not in refused:
            by_album.setdefault(album, {})[key] = digest
    skipped_counts = skipped_by_album(skipped_files)
    everything = albums is None
    # Every album: also those albums.json lists now, so an album that emptied loses its pages.
    wanted = sorted(set(by_album) | set(skipped_counts) | set(listed_albums(s3, site_bucket))) \
        if everything else sorted(set(albums))
    changed = set(changed)
    done = SiteUpdate(albums=wanted)
    entries: dict[str, dict | None] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="display") as pool:
        for album in wanted:
            listed, old_pages = read_album_images(s3, site_bucket, album)
            rows, todo = [], []
            for key, digest in sorted(by_album.get(album, {}).items()):
                old = listed.get(key)
                if old is not None and old.get("sha256") == digest and key not in changed:
                    rows.append(old)
                else:
                    todo.append((key, digest))

            def make(item: tuple[str, str]) -> dict | None:
                key, digest = item
                try:
                    row = put_display_copies(s3, site_bucket, key, read(key))
                    return {"key": key, "sha256": digest, **row}
                except SearchError as e:
                    if e.code == "internal":
                        raise  # a transient read error fails the batch, which is delivered again
                    # The index accepted it but it cannot be shown (e.g. a format Pillow here lacks).
                    done.failed.append({"key": key, "reason": e.code, "message": e.message[:200]})
                    return None

            made = [row for row in pool.map(make, todo) if row is not None]
            done.copied += len(made)
            rows += made
            unshown = len(todo) - len(made)
            skipped = skipped_counts.get(album, 0) + unshown
            entries[album] = write_album(s3, site_bucket, album, rows, skipped, old=old_pages)
            done.listed += len(rows)
            done.skipped += skipped
    merge_albums_json(s3, site_bucket, entries, index=index_summary(manifest), replace_all=everything)
    return done


def albums_of(keys: Iterable[str]) -> list[str]:
    """The albums gallery keys belong to (a key outside the pattern counts for a valid album name)."""
    from site_albums import skipped_by_album

    return sorted(skipped_by_album({"key": k} for k in keys))


def refresh_from_live(s3: Any, *, site_bucket: str, gallery_bucket: str, index_root: str,
                      touched: list[str], max_bytes: int) -> dict:
    """After an ingest batch: the touched albums' copies and pages from the live version (its report)."""
    from imagesearch.index.storage import open_store
    from imagesearch.s3io import read_s3_capped

    store = open_store(index_root, s3=s3)
    version = store.read_current()
    if version is None:
        raise SearchError("index_unavailable", f"no index at {index_root}")
    manifest = store.read_manifest(version)
    keys = store.read_array(version, "keys").tolist()
    hashes = [h.decode("ascii") for h in store.read_array(version, "hashes").tolist()]
    albums = albums_of(touched)
    if not albums:
        return {"site": {"albums": [], "listed": 0, "copied": 0, "skipped": 0, "failed": []}}
    done = refresh_albums(s3, site_bucket, keys=keys, hashes=hashes, manifest=manifest,
                          read=lambda key: read_s3_capped(s3, gallery_bucket, key, max_bytes),
                          albums=albums, changed=touched)
    return {"site": done.as_dict()}
