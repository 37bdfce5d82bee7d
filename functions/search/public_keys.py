"""Which gallery keys a caller may search by: only those the public site already shows.

The gallery bucket is private and holds images the page never offers (past an album's listing,
refused by the index, put there by an operator). If `{"key": "gallery/..."}` answered 404 for a
missing object but 200 (or 422) for an existing one, anyone could probe which private files exist.
So a gallery key is searched only when its public copy exists in the site bucket (a search result
`results/<gallery key>`, the "more like this" case, or the album copy `albums/<album>/<file>`);
otherwise the answer is the very 404 a missing key gets. The decision reads public objects only,
so it tells nothing about the private bucket (docs/function.md, "Private keys").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from errors import ImageNotFound, error_code, from_client_error

RESULTS_PREFIX = "results/"
_MISSING = {"404", "NoSuchKey", "NotFound"}


def public_copies(gallery_key: str) -> tuple[str, str]:
    """The site bucket keys that make a gallery key public: its result copy and its album copy."""
    return RESULTS_PREFIX + gallery_key, "albums/" + gallery_key.removeprefix("gallery/")


def not_found(key: str) -> ImageNotFound:
    """The one 404 for a query image that is missing or not public: the same words for both."""
    return ImageNotFound(f"there is no image {key}")


def require_public_copy(s3: Any, site_bucket: str, gallery_key: str) -> None:
    """Return when the site shows `gallery_key`; the missing-image 404 otherwise."""
    for key in public_copies(gallery_key):
        try:
            s3.head_object(Bucket=site_bucket, Key=key)
            return
        except ClientError as e:
            if error_code(e) not in _MISSING:
                raise from_client_error(e, f"check the public copy {key}") from e
    raise not_found(gallery_key)
