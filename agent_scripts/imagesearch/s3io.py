"""Small S3 helpers; every function takes its boto3 client as an argument."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from imagesearch.errors import SearchError

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_CHUNK = 1 << 16


def is_s3_uri(value: str) -> bool:
    """Whether `value` is an s3:// URI."""
    return value.startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key/prefix` into (bucket, key); the key may be empty."""
    if not is_s3_uri(uri):
        raise SearchError("bad_request", f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SearchError("bad_request", f"no bucket in {uri!r}")
    return bucket, key


def join_key(prefix: str, *parts: str) -> str:
    """`prefix/part/...` without doubled or leading slashes."""
    return "/".join(p.strip("/") for p in (prefix, *parts) if p.strip("/"))


def error_code(e: ClientError) -> str:
    """The error code of a botocore ClientError ("NoSuchKey", "PreconditionFailed", "404", ...)."""
    return str(e.response.get("Error", {}).get("Code", ""))


def read_s3_capped(s3: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    """The object's bytes, streaming at most max_bytes + 1 of them; not_found or too_large otherwise."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in _MISSING:
            raise SearchError("not_found", f"s3://{bucket}/{key} does not exist") from e
        raise SearchError("internal", f"reading s3://{bucket}/{key} failed: {e}") from e
    body = obj["Body"]
    try:
        length = obj.get("ContentLength")
        if length is not None and length > max_bytes:
            raise SearchError(
                "too_large", f"s3://{bucket}/{key} is {length} bytes, over the cap of {max_bytes}"
            )
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = body.read(min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise SearchError("too_large", f"s3://{bucket}/{key} is over the cap of {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        body.close()


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under `prefix`, in key order."""
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], int(item["Size"])
    except ClientError as e:
        if error_code(e) in _MISSING:
            raise SearchError("not_found", f"bucket {bucket!r} does not exist") from e
        raise


def get_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """The whole object (for small files such as manifests), or None when it does not exist."""
    return get_bytes_and_etag(s3, bucket, key)[0]


def get_bytes_and_etag(s3: Any, bucket: str, key: str) -> tuple[bytes | None, str | None]:
    """A small object and its ETag (for a conditional PUT's If-Match), or (None, None) when absent."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in _MISSING:
            return None, None
        raise
    return obj["Body"].read(), obj.get("ETag")


def put_bytes(
    s3: Any, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
) -> None:
    """Write one small object."""
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def download_file(s3: Any, bucket: str, key: str, dest: str) -> None:
    """Download to `dest` through a temporary file, so `dest` is either absent or complete."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".part-")
    os.close(fd)
    try:
        s3.download_file(bucket, key, tmp)
        os.replace(tmp, dest)
    except ClientError as e:
        if error_code(e) in _MISSING:
            raise SearchError("not_found", f"s3://{bucket}/{key} does not exist") from e
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    """Whether the object is there now (HEAD); other errors than "missing" are raised as internal."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in _MISSING:
            return False
        raise SearchError("internal", f"cannot check s3://{bucket}/{key}: {e}") from e
    return True
