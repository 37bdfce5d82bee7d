"""Where a build's images come from: a local folder of albums, or every object under an S3 prefix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagesearch.errors import SearchError
from imagesearch.model.albums import walk_albums
from imagesearch.s3io import is_s3_uri, list_objects, parse_s3_uri, read_s3_capped


@dataclass(frozen=True)
class Source:
    """One image to index: its key, where it comes from (for the report), its size if known, a reader."""

    key: str
    where: str
    size: int | None
    read: Callable[[], bytes]


def _read_file(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read()

    return read


def local_sources(images_dir: str, key_prefix: str = "gallery/") -> tuple[list[Source], list[dict]]:
    """The images of an album folder (imagesearch.model.albums), keyed `<prefix><safe album>/<safe file>`.

    The publisher walks the same way, so the keys match the gallery bucket. Entries the walk
    skips are returned to be reported, not indexed.
    """
    walk = walk_albums(images_dir)
    prefix = key_prefix if not key_prefix or key_prefix.endswith("/") else key_prefix + "/"
    sources = []
    for f in walk.files():
        try:
            size = f.path.stat().st_size
        except OSError:
            size = None
        path = str(f.path)
        sources.append(Source(f"{prefix}{f.album}/{f.name}", path, size, _read_file(path)))
    return sources, walk.skipped


def s3_sources(s3: Any, uri: str, max_bytes: int) -> list[Source]:
    """Every object under an s3:// prefix, keyed by its own S3 key, read at most `max_bytes` + 1."""
    bucket, prefix = parse_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    out = []
    for key, size in list_objects(s3, bucket, prefix):
        if key.endswith("/"):
            continue  # folder placeholder objects some tools create

        def read(key: str = key) -> bytes:
            # Capped: a listing's size may be stale, and the cap must hold anyway.
            return read_s3_capped(s3, bucket, key, max_bytes)

        out.append(Source(key, f"s3://{bucket}/{key}", size, read))
    return out


def collect_sources(
    images: str, *, max_bytes: int, s3: Any = None, key_prefix: str = "gallery/"
) -> tuple[list[Source], list[dict]]:
    """Sources from a local album folder or an s3:// prefix, plus entries skipped while listing."""
    if is_s3_uri(images):
        if s3 is None:
            raise SearchError("bad_request", f"{images} is on S3 but no S3 client was given")
        return s3_sources(s3, images, max_bytes), []
    return local_sources(images, key_prefix)


def s3_key_sources(s3: Any, bucket: str, keys: list[str], max_bytes: int) -> list[Source]:
    """Named objects of one bucket (an ingest batch's keys), each read at most `max_bytes` + 1."""
    out = []
    for key in keys:

        def read(key: str = key) -> bytes:
            return read_s3_capped(s3, bucket, key, max_bytes)

        out.append(Source(key, f"s3://{bucket}/{key}", None, read))
    return out
