"""Query images users upload: the presigned POST of `POST /uploads`, and the check before a search.

The browser sends the file straight to the private gallery bucket under `uploads/<id>`; the
function never sees the bytes. S3 enforces the form's conditions in AWS, but a local S3 may not,
so `check_upload` is what stands between any object and the agent: it exists, it is not empty, it
is within the size limit and it was declared an image. The agent still decodes defensively.
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError
from errors import BadRequest, ImageNotFound, SearchAPIError, error_code, from_client_error
from keys import UPLOAD_ID

UPLOAD_PREFIX = "uploads/"
EXPIRES_SECONDS = 300
# What the page may declare; the agent sniffs the content itself whatever the type says.
CONTENT_TYPE_PREFIX = "image/"
# What the agent decodes (imagesearch.model.images.ALLOWED_FORMATS; its ACCEPTED_TEXT says the same).
# The function never reads the bytes (the agent sniffs them), so this is only what users are told.
ACCEPTED_TEXT = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC or AVIF"


class UnusableImage(SearchAPIError):
    """The named image cannot be searched: not an image, or over the size limit (422)."""

    status = 422
    code = "bad_image"


def new_upload_id() -> str:
    """A fresh, unguessable upload id (128 random bits as 32 lowercase hex digits)."""
    return secrets.token_hex(16)


def upload_key(upload_id: str) -> str:
    """The gallery bucket key of an upload."""
    return UPLOAD_PREFIX + upload_id


def parse_upload_id(value: object) -> str:
    """A well-formed upload id, else BadRequest (code bad_upload)."""
    if not isinstance(value, str) or not UPLOAD_ID.fullmatch(value):
        raise BadRequest("upload must be the upload_id that POST /uploads answered (32 lowercase hex digits)",
                         code="bad_upload")
    return value


def presign_upload(s3: Any, bucket: str, max_bytes: int, upload_id: str | None = None,
                   expires_in: int = EXPIRES_SECONDS) -> dict:
    """The `POST /uploads` answer: a form that lets the browser put one image at `uploads/<id>`."""
    upload_id = upload_id or new_upload_id()
    key = upload_key(upload_id)
    conditions: list[Any] = [
        {"bucket": bucket},
        {"key": key},
        ["content-length-range", 1, max_bytes],
        ["starts-with", "$Content-Type", CONTENT_TYPE_PREFIX],
    ]
    try:
        post = s3.generate_presigned_post(Bucket=bucket, Key=key, Conditions=conditions, ExpiresIn=expires_in)
    except ClientError as e:  # signing is local; only a missing region or credentials get here
        raise from_client_error(e, "sign an upload") from e
    return {"upload_id": upload_id, "url": post["url"], "fields": post["fields"], "max_bytes": max_bytes,
            "expires_in": expires_in}


def check_upload(s3: Any, bucket: str, upload_id: str, max_bytes: int) -> None:
    """Raise unless `uploads/<id>` exists, is 1..max_bytes long and was declared an image."""
    key = upload_key(upload_id)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in {"404", "NoSuchKey", "NotFound"}:
            raise ImageNotFound(f"there is no upload {upload_id}: it was never completed or it has expired "
                                "(uploads are kept for a day); upload the image again",
                                code="upload_not_found") from e
        raise from_client_error(e, "check the uploaded image") from e
    size = int(head.get("ContentLength") or 0)
    if size < 1:
        raise UnusableImage("the uploaded file is empty; choose an image file", code="bad_image")
    if size > max_bytes:
        raise UnusableImage(f"the uploaded file is {size} bytes, over the limit of {max_bytes} bytes "
                            f"({max_bytes // (1024 * 1024)} MiB); choose a smaller image", code="too_large")
    content_type = str(head.get("ContentType") or "")
    if not content_type.startswith(CONTENT_TYPE_PREFIX):
        raise UnusableImage(f"the uploaded file was sent as {content_type[:60]!r}, not as an image; "
                            f"choose a {ACCEPTED_TEXT} file", code="bad_image")
