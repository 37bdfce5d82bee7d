"""The image collection on disk (one subfolder per album) and its two published forms.

Gallery: every image at `gallery/<album>/<file>` in the private bucket (what the index names).
Albums: a thumbnail and a preview of every image the live index holds (`thumbs/`, `previews/`,
no private metadata), the album pages `listings/<album>/<n>.json` and albums.json in the site
bucket (imagesearch.ops.site_listing), so the page can list albums and a user can pick a query image.
The folder is read by the engine's album walk (imagesearch.model.albums), the same one the index build uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

from imagesearch.errors import SearchError
from imagesearch.model.albums import AlbumFile, walk_albums
from imagesearch.model.images import file_sha256

# The listing rule and albums.json's shape have one home, shared with the ingest function.
from site_albums import ALBUMS_JSON, DEFAULT_PER_ALBUM, is_browsable

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, sync

__all__ = ["ALBUMS_JSON", "DEFAULT_PER_ALBUM", "browsable", "publish_albums", "publish_gallery", "scan"]
log = logging.getLogger(__name__)
# The retired prefix of byte copies of originals; publish empties it.
RETIRED = "albums/"
# Largest gallery object publish reads back to make a display copy (the agent's default cap).
MAX_READ_BYTES = 10 * 1024 * 1024


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
    """The first per_album images a browser can show, in name order (the warm-up's "albums" scope)."""
    return [i for i in images if is_browsable(i.path.name)][:per_album]


def publish_gallery(s3, gallery_bucket: str, images_dir: Path, *, progress: bool = True,
                    concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Upload every image to `gallery/<album>/<file>` in the gallery bucket; return the counts."""
    items = [Item(key=img.gallery_key, path=img.path, metadata=sha256_metadata(img))
             for images in scan(images_dir).values() for img in images]
    return sync(s3, gallery_bucket, items, label="gallery", progress=progress, concurrency=concurrency)


def album_hashes(images_dir: Path, per_album: int = DEFAULT_PER_ALBUM) -> list[str]:
    """The SHA-256 of every browsable album image: the queries the page offers."""
    return [sha256_of(img) for images in scan(images_dir).values() for img in browsable(images, per_album)]


def remove_original_copies(s3, site_bucket: str) -> int:
    """Delete every object under the retired `albums/` prefix (byte copies of originals, EXIF included)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=site_bucket, Prefix=RETIRED)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start:start + 1000]]
        s3.delete_objects(Bucket=site_bucket, Delete={"Objects": batch, "Quiet": True})
    return len(keys)


def publish_albums(s3, site_bucket: str, gallery_bucket: str, images_dir: Path, *,
                   concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Display copies, album pages and albums.json of what the live index holds (docs/contracts.md).

    The listing derives from the index (its keys, hashes and skipped files), never from the folder
    or a bucket listing; an image's bytes are read from the folder, or from the gallery bucket when
    the index holds a key the folder lacks (added by ingest). Counts: copies made, entries kept.
    """
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
    from imagesearch.ops.site_listing import refresh_albums
    from imagesearch.s3io import read_s3_capped

    store = S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX)
    try:
        version = store.read_current()
        if version is None:
            # Albums list what the index accepted; with no index (publish --no-index on a new stack)
            # there is nothing to list yet.
            log.warning("albums: no index in %s yet; no album is listed", store.root)
            return Counts()
        manifest = store.read_manifest(version)
        keys = store.read_array(version, "keys").tolist()
        hashes = [h.decode("ascii") for h in store.read_array(version, "hashes").tolist()]
    except SearchError as e:
        raise PublishError(f"cannot read the live index to list the albums: {e.message}") from e
    paths = {img.gallery_key: img.path for images in scan(images_dir).values() for img in images}

    def read(key: str) -> bytes:
        path = paths.get(key)
        if path is not None:
            return path.read_bytes()
        return read_s3_capped(s3, gallery_bucket, key, MAX_READ_BYTES)

    done = refresh_albums(s3, site_bucket, keys=keys, hashes=hashes, manifest=manifest, read=read,
                          workers=concurrency)
    for failed in done.failed:
        log.warning("no display copy of %s (%s): %s", failed["key"], failed["reason"], failed["message"])
    removed = remove_original_copies(s3, site_bucket)
    if removed:
        log.info("albums: deleted %d byte copies of originals under %s", removed, RETIRED)
    return Counts(done.copied, done.listed - done.copied)
