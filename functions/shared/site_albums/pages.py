"""The paged album listing: `listings/<album>/<page>.json` and the small albums.json.

docs/contracts.md, "Site", has the shapes.

Derived from what the index accepted (its gallery keys, and the files its builds skipped), never
from a bucket listing: a name outside the key pattern, a non-image, a bomb or a corrupt file is
only counted in an album's `skipped`. Written whole by `publish` and per changed album by
`imagesearch ingest` (under its batch lock, so pages and albums.json follow the batches' order).
Only the S3 client it is given; no image decoding here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from site_albums.listing import ALBUMS_JSON, LISTING_CACHE_CONTROL

PAGE_SIZE = 100
LISTINGS_PREFIX = "listings/"
IMAGE_FIELDS = ("key", "sha256", "width", "height", "bytes")
_GALLERY_KEY = re.compile(
    r"^gallery/([A-Za-z0-9_-]{1,64})/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
_MISSING = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
WRITE_ATTEMPTS = 5

log = logging.getLogger("site_albums")


def album_of_key(gallery_key: str) -> str | None:
    """The album of a listable gallery key; None for a key outside the pattern (never listed)."""
    match = _GALLERY_KEY.fullmatch(gallery_key)
    return match.group(1) if match else None


def page_key(album: str, page: int) -> str:
    """`listings/<album>/<page>.json`, pages counted from 1."""
    return f"{LISTINGS_PREFIX}{album}/{page}.json"


def page_count(count: int, page_size: int | None = None) -> int:
    """How many pages an album of `count` images has (0 for none)."""
    return -(-count // (page_size or PAGE_SIZE))


def album_pages(album: str, images: Iterable[Mapping], page_size: int | None = None) -> list[dict]:
    """The page documents of one album: its images in key order, `page_size` (PAGE_SIZE) per page."""
    page_size = page_size or PAGE_SIZE
    rows = sorted(({f: img[f] for f in IMAGE_FIELDS} for img in images), key=lambda r: r["key"])
    for row in rows:
        if album_of_key(row["key"]) != album:
            raise ValueError(f"{row['key']!r} is not a listable key of album {album!r}")
    pages = page_count(len(rows), page_size)
    return [{"album": album, "page": p, "pages": pages, "count": len(rows),
             "images": rows[(p - 1) * page_size : p * page_size]} for p in range(1, pages + 1)]


def album_entry(album: str, pages: list[dict], skipped: int, page_size: int | None = None) -> dict | None:
    """albums.json's entry for an album; None when it has neither an image nor a skipped file."""
    page_size = page_size or PAGE_SIZE
    count = pages[0]["count"] if pages else 0
    if not count and not skipped:
        return None
    return {"name": album, "count": count, "skipped": skipped,
            "cover": pages[0]["images"][0]["key"] if pages else None,
            "pages": len(pages), "page_size": page_size}


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def read_json(s3: Any, bucket: str, key: str) -> tuple[dict | None, str | None]:
    """An object's JSON and ETag; (None, None) when it does not exist."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if _code(e) in _MISSING:
            return None, None
        raise
    return json.loads(obj["Body"].read()), obj.get("ETag")


def _put_json(s3: Any, bucket: str, key: str, document: dict, **extra: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=1).encode() + b"\n",
                  ContentType="application/json", CacheControl=LISTING_CACHE_CONTROL, **extra)


def read_album_pages(s3: Any, site_bucket: str, album: str) -> list[dict | None]:
    """The page documents an album has now (a missing page is None; empty when it has none)."""
    first, _ = read_json(s3, site_bucket, page_key(album, 1))
    if first is None:
        return []
    return [first] + [read_json(s3, site_bucket, page_key(album, p))[0]
                      for p in range(2, int(first.get("pages", 1)) + 1)]


def read_album_images(s3: Any, site_bucket: str, album: str) -> tuple[dict[str, dict], list[dict | None]]:
    """The images an album's pages list now, by gallery key, and those pages."""
    pages = read_album_pages(s3, site_bucket, album)
    return {img["key"]: img for doc in pages for img in (doc or {}).get("images", [])}, pages


def listed_albums(s3: Any, site_bucket: str) -> list[str]:
    """The album names albums.json lists now (empty when there is none)."""
    listing, _ = read_json(s3, site_bucket, ALBUMS_JSON)
    return sorted({str(e.get("name")) for e in (listing or {}).get("albums", []) if album_of_key(
        f"gallery/{e.get('name')}/x")})


def write_album(s3: Any, site_bucket: str, album: str, images: Iterable[Mapping], skipped: int,
                old: list[dict | None] = (), page_size: int | None = None) -> dict | None:
    """Write an album's pages that changed (`old`: its pages now), delete those it no longer has;
    its albums.json entry. A page whose content is unchanged is not written again (every page
    carries the album's count, so an addition or removal rewrites them all; a replacement only its
    own page)."""
    pages = album_pages(album, images, page_size)
    for doc in pages:
        if doc["page"] > len(old) or old[doc["page"] - 1] != doc:
            _put_json(s3, site_bucket, page_key(album, doc["page"]), doc)
    stale = [{"Key": page_key(album, p)} for p in range(len(pages) + 1, len(old) + 1)]
    if stale:
        s3.delete_objects(Bucket=site_bucket, Delete={"Objects": stale, "Quiet": True})
    return album_entry(album, pages, skipped, page_size)


def merge_albums_json(s3: Any, site_bucket: str, entries: Mapping[str, dict | None], *,
                      index: dict | None = None, replace_all: bool = False) -> dict:
    """Put the given album entries (None: the album is gone) into albums.json; the document written.

    Written only if albums.json did not change meanwhile (If-Match), so two writers never drop each
    other's albums. `replace_all` (publish) drops every album not in `entries`. `index` replaces
    the index summary when given.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        listing, etag = read_json(s3, site_bucket, ALBUMS_JSON)
        listing = listing or {"albums": [], "index": None}
        current = {} if replace_all else {e["name"]: e for e in listing.get("albums", [])
                                          if "pages" in e}  # an entry of the old shape is re-made
        for name, entry in entries.items():
            if entry is None:
                current.pop(name, None)
            else:
                current[name] = entry
        document = {**listing, "albums": [current[n] for n in sorted(current)],
                    "index": index if index is not None else listing.get("index")}
        try:
            _put_json(s3, site_bucket, ALBUMS_JSON, document, **({"IfMatch": etag} if etag else {}))
            return document
        except ClientError as e:
            if _code(e) not in _CONFLICT:
                raise
            log.info("albums.json changed meanwhile; reading it again (attempt %d)", attempt)
    raise RuntimeError(f"albums.json kept changing during {WRITE_ATTEMPTS} attempts")


def skipped_by_album(skipped_files: Iterable[Mapping]) -> dict[str, int]:
    """How many skipped files each album has, from the index's skipped list ({"key", "reason"}).

    A key outside the key pattern still counts for the album its path names (`gallery/<album>/...`)
    when that album name is itself valid; the name is never published.
    """
    counts: dict[str, int] = {}
    for item in skipped_files:
        parts = str(item.get("key") or "").split("/")
        if len(parts) >= 3 and parts[0] == "gallery" and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", parts[1]):
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    return counts
