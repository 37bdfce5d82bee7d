"""The image collection on disk (one subfolder per album) and its two published forms.

Gallery: every image at `gallery/<album>/<file>` in the private bucket (what the index names).
Albums: up to N images per album at `albums/<album>/<file>` in the site bucket, plus albums.json,
so the page can list albums and a user can pick a query image. The folder is read by the engine's
album walk (imagesearch.model.albums), the same one the index build uses.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from imagesearch.errors import SearchError
from imagesearch.model.albums import AlbumFile, walk_albums
from imagesearch.model.images import file_sha256

# The listing rule and albums.json's shape have one home, shared with the ingest function.
from site_albums import ALBUMS_JSON, DEFAULT_PER_ALBUM, IMAGE_CACHE_CONTROL, album_entry, is_browsable

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, sync

__all__ = ["ALBUMS_JSON", "DEFAULT_PER_ALBUM", "IMAGE_CACHE_CONTROL", "albums_document", "browsable",
           "publish_albums", "publish_gallery", "scan"]
log = logging.getLogger(__name__)


def scan(images_dir: Path) -> dict[str, list[AlbumFile]]:
    """The albums under images_dir (sorted), each with its files (sorted), names made safe.

    Entries the album walk skips (files outside albums, nested folders, names that collide once
    made safe) are logged as warnings, as the index build lists them in its report.
    """
    try:
        walk = walk_albums(images_dir)
    except SearchError as e:
        raise PublishError(e.message) from e
    for skipped in walk.skipped:
        log.warning("not published: %s (%s)", skipped["where"], skipped["message"])
    if not walk.albums:
        raise PublishError(f"no albums in {images_dir}: expected one subfolder of images per album")
    return walk.albums


def sha256_of(image: AlbumFile) -> str:
    """The SHA-256 of an image's bytes: its identity in the index and its result cache key."""
    return file_sha256(str(image.path))


def sha256_metadata(image: AlbumFile) -> dict[str, str]:
    """x-amz-meta-sha256, so the function learns the hash from the head it already reads."""
    return {"sha256": sha256_of(image)}


def browsable(images: list[AlbumFile], per_album: int) -> list[AlbumFile]:
    """The first per_album images a browser can show, in name order."""
    return [i for i in images if is_browsable(i.path.name)][:per_album]


def albums_document(albums: dict[str, list[AlbumFile]], per_album: int, index: dict | None) -> dict:
    """The albums.json content of docs/contracts.md."""
    entries = []
    for name, images in albums.items():
        shown = browsable(images, per_album)
        entry = album_entry(name, [i.album_key for i in shown], len(images),
                            sha256=[sha256_of(i) for i in shown])
        if entry:
            entries.append(entry)
    return {"albums": entries, "index": index}


def publish_gallery(s3, gallery_bucket: str, images_dir: Path, *, progress: bool = True,
                    concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Upload every image to `gallery/<album>/<file>` in the gallery bucket; return the counts."""
    items = [Item(key=img.gallery_key, path=img.path, metadata=sha256_metadata(img))
             for images in scan(images_dir).values() for img in images]
    return sync(s3, gallery_bucket, items, label="gallery", progress=progress, concurrency=concurrency)


def album_hashes(images_dir: Path, per_album: int = DEFAULT_PER_ALBUM) -> list[str]:
    """The SHA-256 of every browsable album image: the queries the page offers."""
    return [sha256_of(img) for images in scan(images_dir).values() for img in browsable(images, per_album)]


def publish_albums(s3, site_bucket: str, images_dir: Path, *, per_album: int = DEFAULT_PER_ALBUM,
                   index: dict | None = None, progress: bool = True,
                   concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Upload up to per_album browsable images per album and albums.json to the site bucket."""
    if per_album < 1:
        raise PublishError(f"per_album must be at least 1, got {per_album}")
    albums = scan(images_dir)
    items = [Item(key=img.album_key, path=img.path, cache_control=IMAGE_CACHE_CONTROL,
                  metadata=sha256_metadata(img))
             for images in albums.values() for img in browsable(images, per_album)]
    document = albums_document(albums, per_album, index)
    items.append(Item(key=ALBUMS_JSON, data=json.dumps(document, indent=1).encode() + b"\n",
                      content_type="application/json", cache_control="no-cache"))
    return sync(s3, site_bucket, items, label="albums", progress=progress, concurrency=concurrency)
