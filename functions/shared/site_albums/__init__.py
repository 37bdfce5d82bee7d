"""The site's album listing: which gallery images the page offers, albums.json and the albums/ copies.

One home for the rule (browsable suffix, name order, the first N of an album) and the shape of
albums.json (docs/contracts.md, "Site"): `publish` writes the whole listing from a folder, the
ingest function updates the albums a batch changed, reading the gallery bucket. The copies of
matches (`results/`) of images that left are deleted here too (site_albums.public_copies). It ships in the
functions' shared layer (template.yaml) and needs only the S3 client it is given.
"""

from site_albums.listing import (
    ALBUMS_JSON,
    BROWSABLE_SUFFIXES,
    DEFAULT_PER_ALBUM,
    IMAGE_CACHE_CONTROL,
    AlbumUpdate,
    album_entry,
    index_summary,
    is_browsable,
    update_albums,
)
from site_albums.public_copies import PublicCopiesNotDeleted, delete_public_copies, keys_that_left, result_key

__all__ = [
    "ALBUMS_JSON", "BROWSABLE_SUFFIXES", "DEFAULT_PER_ALBUM", "IMAGE_CACHE_CONTROL", "AlbumUpdate",
    "album_entry", "index_summary", "is_browsable", "update_albums",
    "PublicCopiesNotDeleted", "delete_public_copies", "keys_that_left", "result_key",
]
