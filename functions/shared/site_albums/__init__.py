"""The site's album listing: albums.json, the paged listings and the removal of public copies.

One home for the listing's shape (docs/contracts.md, "Site"): `publish` writes every album from the
live index, `imagesearch ingest` rewrites the albums a batch changed. What is listed derives from
what the index accepted, never from a bucket listing (site_albums.pages). The public copies of
images that left (thumbs/, previews/, results/) are deleted here too (site_albums.public_copies).
It ships in the functions' shared layer and the agent bundle and needs only the S3 client it is
given (the display copies themselves are made by imagesearch.model.display, which decodes).
"""

from site_albums.listing import (
    ALBUMS_JSON,
    BROWSABLE_SUFFIXES,
    DEFAULT_PER_ALBUM,
    IMAGE_CACHE_CONTROL,
    index_summary,
    is_browsable,
)
from site_albums.pages import (
    PAGE_SIZE,
    album_of_key,
    listed_albums,
    merge_albums_json,
    page_key,
    read_album_images,
    skipped_by_album,
    write_album,
)
from site_albums.public_copies import (
    PublicCopiesNotDeleted,
    delete_public_copies,
    keys_that_left,
    public_keys,
    result_key,
)

__all__ = [
    "ALBUMS_JSON", "BROWSABLE_SUFFIXES", "DEFAULT_PER_ALBUM", "IMAGE_CACHE_CONTROL", "PAGE_SIZE",
    "album_of_key", "index_summary", "is_browsable", "listed_albums", "merge_albums_json", "page_key",
    "read_album_images", "skipped_by_album", "write_album",
    "PublicCopiesNotDeleted", "delete_public_copies", "keys_that_left", "public_keys", "result_key",
]
