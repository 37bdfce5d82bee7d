"""Album entries and their incremental update in the site bucket (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

DEFAULT_PER_ALBUM = 48
ALBUMS_JSON = "albums.json"
# Browsers show these; anything else in an album is in the gallery (the index decides what is an
# image by content) but never offered on the page.
BROWSABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})
IMAGE_CACHE_CONTROL = "public, max-age=86400"
LISTING_CACHE_CONTROL = "no-cache"
GALLERY_PREFIX = "gallery/"
ALBUMS_PREFIX = "albums/"
_MISSING = {"NoSuchKey", "404", "NotFound"}
# Object metadata naming the bytes' SHA-256 (docs/contracts.md, "Keys"): the result cache's key.
SHA256_METADATA = "sha256"
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
WRITE_ATTEMPTS = 5

log = logging.getLogger("site_albums")


def is_browsable(name: str) -> bool:
    """Whether a browser shows a file of this name (by its suffix)."""
    return posixpath.splitext(name)[1].lower() in BROWSABLE_SUFFIXES


def album_entry(name: str, shown: list[str], count: int,
                sha256: list[str | None] | None = None) -> dict | None:
    """One album of albums.json: its album keys `albums/<album>/<file>` in order; None when none is shown.

    `sha256`, aligned with `shown`, is each image's hash (its result cache key; null when unknown).
    """
    if not shown:
        return None
    entry = {"name": name, "cover": shown[0], "count": count, "images": shown}
    if sha256 is not None:
        entry["sha256"] = sha256
    return entry


def index_summary(manifest: dict) -> dict:
    """albums.json's `index` object {version, count, mode, pretrained, demo, weights_label}: the label
    names the weights actually used (seeded: demo; a file: its sha256 prefix)."""
    weights = manifest.get("weights") or {}
    pretrained = bool(weights.get("pretrained"))
    source = str(weights.get("source", "?"))
    demo = source.startswith("seed:")
    file_hash = str(weights.get("file_sha256", ""))[:12]
    if demo:
        label = f"demo weights, not pretrained ({source})"
    elif pretrained:
        label = "pretrained ImageNet weights" + (f" (sha256 {file_hash})" if file_hash else "")
    else:
        label = f"weights file sha256 {file_hash or '?'}, not known to be pretrained"
    return {"version": manifest.get("version"), "count": manifest.get("count"),
            "mode": manifest.get("default_mode"), "pretrained": pretrained, "demo": demo,
            "weights_label": label}


@dataclass
class AlbumUpdate:
    """What one update did to the site bucket."""

    albums: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    attempts: int = 0


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _read_listing(s3: Any, bucket: str) -> tuple[dict, str | None]:
    """albums.json and its ETag; an empty listing when there is none yet."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=ALBUMS_JSON)
    except ClientError as e:
        if _code(e) in _MISSING:
            return {"albums": [], "index": None}, None
        raise
    return json.loads(obj["Body"].read()), obj.get("ETag")


def _album_files(s3: Any, gallery_bucket: str, album: str) -> list[str]:
    """The file names directly under gallery/<album>/, in key (name) order."""
    prefix = f"{GALLERY_PREFIX}{album}/"
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=gallery_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix):]
            if name and "/" not in name:
                names.append(name)
    return sorted(names)


def _body_sha256(body: Any) -> str:
    """The SHA-256 of a streamed object body, read in chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _copy(s3: Any, gallery_bucket: str, site_bucket: str, album: str, name: str,
          hashes: dict[str, str | None]) -> str:
    """Copy one gallery image to albums/ with x-amz-meta-sha256 (the result cache key) computed here.

    The hash comes from the bytes, never from the gallery object's own metadata: that is a claim
    anyone who can write gallery/ makes, and the function looks cache entries up by the copy's hash.
    The copy is of the very version that was hashed (CopySourceIfMatch); an object replaced
    meanwhile fails the copy (412), so the batch is retried.
    """
    key, source = f"{ALBUMS_PREFIX}{album}/{name}", f"{GALLERY_PREFIX}{album}/{name}"
    obj = s3.get_object(Bucket=gallery_bucket, Key=source)
    digest = _body_sha256(obj["Body"])
    s3.copy_object(Bucket=site_bucket, Key=key, CopySource={"Bucket": gallery_bucket, "Key": source},
                   CopySourceIfMatch=obj["ETag"],
                   MetadataDirective="REPLACE", CacheControl=IMAGE_CACHE_CONTROL,
                   Metadata={SHA256_METADATA: digest},
                   ContentType=mimetypes.guess_type(name)[0] or "application/octet-stream")
    hashes[key] = digest
    return key


def _with_hashes(entry: dict, old: dict, copied: dict[str, str | None]) -> dict:
    """The entry with `sha256` (aligned with `images`) when any image's hash is known.

    A copy made now brings its gallery object's hash; an image copied before keeps the old entry's.
    """
    known = dict(zip(old.get("images", []), old.get("sha256") or [], strict=False))
    known.update(copied)
    hashes = [known.get(key) for key in entry["images"]]
    return {**entry, "sha256": hashes} if any(hashes) else entry


def update_albums(s3: Any, *, site_bucket: str, gallery_bucket: str, albums: Iterable[str],
                  changed_keys: Iterable[str] = (), hidden: Iterable[str] = (),
                  per_album: int = DEFAULT_PER_ALBUM, index: dict | None = None) -> AlbumUpdate:
    """Re-list the albums from the gallery bucket; bring their albums.json entries and copies in line.

    `changed_keys` (gallery keys) are copied again when shown (their content may be new); `hidden`
    gallery keys are left off the page (files the index skipped). `index` replaces albums.json's
    index object when given. albums.json is written only if it did not change meanwhile (If-Match),
    so two updates never drop each other's albums.
    """
    if per_album < 1:
        raise ValueError(f"per_album must be at least 1, got {per_album}")
    albums = sorted(set(albums))
    changed, hidden = set(changed_keys), set(hidden)
    done = AlbumUpdate(albums=albums)
    hashes: dict[str, str | None] = {}  # album key -> sha256 of the copies made now
    fresh: dict[str, dict | None] = {}
    for album in albums:
        names = [n for n in _album_files(s3, gallery_bucket, album)
                 if f"{GALLERY_PREFIX}{album}/{n}" not in hidden]
        shown = [n for n in names if is_browsable(n)][:per_album]
        for name in shown:
            if f"{GALLERY_PREFIX}{album}/{name}" in changed:  # new content under a shown name
                done.copied.append(_copy(s3, gallery_bucket, site_bucket, album, name, hashes))
        fresh[album] = album_entry(album, [f"{ALBUMS_PREFIX}{album}/{n}" for n in shown], len(names))
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        done.attempts = attempt
        listing, etag = _read_listing(s3, site_bucket)
        entries = {e["name"]: e for e in listing.get("albums", [])}
        for album, entry in fresh.items():
            old = set((entries.get(album) or {}).get("images", []))
            new = set(entry["images"]) if entry else set()
            for key in sorted(new - old):
                if key not in done.copied:
                    done.copied.append(_copy(s3, gallery_bucket, site_bucket, album, key.rsplit("/", 1)[1],
                                             hashes))
            gone = sorted(old - new)
            if gone:
                s3.delete_objects(Bucket=site_bucket, Delete={"Objects": [{"Key": k} for k in gone],
                                                              "Quiet": True})
                done.deleted += gone
            if entry:
                entry = _with_hashes(entry, entries.get(album) or {}, hashes)
                entries[album] = entry
            else:
                entries.pop(album, None)
        document = {**listing, "albums": [entries[n] for n in sorted(entries)],
                    "index": index if index is not None else listing.get("index")}
        put = {"Bucket": site_bucket, "Key": ALBUMS_JSON, "ContentType": "application/json",
               "CacheControl": LISTING_CACHE_CONTROL,
               "Body": json.dumps(document, indent=1).encode() + b"\n"}
        if etag:
            put["IfMatch"] = etag
        try:
            s3.put_object(**put)
            return done
        except ClientError as e:
            if _code(e) not in _CONFLICT:
                raise
            log.info("albums.json changed meanwhile; reading it again (attempt %d)", attempt)
    raise RuntimeError(f"albums.json kept changing during {WRITE_ATTEMPTS} attempts")
