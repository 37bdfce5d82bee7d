"""Which gallery keys a caller may search by: only those the public site already shows.

The gallery bucket is private and holds images the page never offers (past an album's listing,
refused by the index, put there by an operator). If `{"key": "gallery/..."}` answered 404 for a
missing object but 200 (or 422) for an existing one, anyone could probe which private files exist.
So a gallery key (asked as `gallery/...` or `albums/...`) is searched only when its public preview
`previews/<album>/<file>` exists in the site bucket (every image the index accepted has one, made at
publish and ingest); otherwise the answer is the very 404 a missing key gets. The decision reads
public objects only, so it tells nothing about the private bucket (docs/function.md, "Private keys").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from errors import ImageNotFound, error_code, from_client_error

_MISSING = {"404", "NoSuchKey", "NotFound"}


def not_found(key: str) -> ImageNotFound:
    """The one 404 for a query image that is missing or not public: the same words for both."""
    return ImageNotFound(f"there is no image {key}")


def require_public_copy(s3: Any, site_bucket: str, preview_key: str, asked_key: str) -> None:
    """Return when the site shows the image (its preview exists); the missing-image 404 otherwise."""
    try:
        s3.head_object(Bucket=site_bucket, Key=preview_key)
    except ClientError as e:
        if error_code(e) not in _MISSING:
            raise from_client_error(e, f"check the public copy {preview_key}") from e
        raise not_found(asked_key) from e
