"""Idempotent, concurrent uploads to S3 through s3transfer, with a progress bar.

An object is skipped when the bucket already holds the same bytes: same size and either an ETag
equal to the file's MD5 (single-part uploads with SSE-S3 or no encryption) or an `md5` entry in
the object's metadata (written by every upload here, so multipart objects compare too).
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.subscribers import BaseSubscriber
from tqdm import tqdm

DEFAULT_CONCURRENCY = 16
# Files below this go up in one PUT, so their ETag is their MD5 and the listing alone proves them
# unchanged; every image of the collection is far smaller.
MULTIPART_THRESHOLD = 64 * 1024 * 1024

# Browsers need a JavaScript MIME type for ES modules; Python's table varies by platform.
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".npy": "application/octet-stream",
    ".sh": "text/x-shellscript",
}


class PublishError(Exception):
    """Publishing cannot go on; the message says what to fix."""


@dataclass(frozen=True)
class Counts:
    """How many objects a step uploaded and how many it found unchanged."""

    uploaded: int = 0
    skipped: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.uploaded + other.uploaded, self.skipped + other.skipped)

    def __str__(self) -> str:
        return f"{self.uploaded} uploaded, {self.skipped} unchanged"


@dataclass(frozen=True)
class Item:
    """One object to publish: its key and either a local file or bytes made in memory."""

    key: str
    path: Path | None = None
    data: bytes | None = None
    content_type: str | None = None
    cache_control: str | None = None
    # More x-amz-meta-* entries beside md5 (e.g. sha256 for the result cache); part of "unchanged".
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError(f"{self.key}: give exactly one of path or data")
        if not self.key or self.key.startswith("/") or ".." in self.key.split("/"):
            raise ValueError(f"unsafe object key {self.key!r}")

    def size(self) -> int:
        """Byte size of the content."""
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def md5(self) -> str:
        """Hex MD5 of the content (an integrity check against the ETag, not a security hash)."""
        digest = hashlib.md5(usedforsecurity=False)
        if self.data is not None:
            digest.update(self.data)
        else:
            with self.path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def guessed_type(self) -> str:
        """The Content-Type to store: the explicit one, else by extension."""
        if self.content_type:
            return self.content_type
        suffix = Path(self.key).suffix.lower()
        return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(self.key)[0] or "application/octet-stream"


def file_items(root: Path, prefix: str = "", cache_control: str | None = None) -> list[Item]:
    """Every regular file under root as an Item keyed `<prefix><relative path>`, hidden files left out."""
    root = Path(root)
    if not root.is_dir():
        raise PublishError(f"{root} is not a directory")
    items = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        items.append(Item(key=prefix + rel.as_posix(), path=path, cache_control=cache_control))
    return items


def _listing_prefixes(keys: Iterable[str]) -> set[str]:
    """The top-level folders holding the keys ('' stands for the bucket's root level)."""
    return {key.split("/", 1)[0] + "/" if "/" in key else "" for key in keys}


def list_existing(s3, bucket: str, keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Size and ETag of the objects already stored under the keys' top-level folders."""
    found: dict[str, tuple[int, str]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in sorted(_listing_prefixes(keys)):
        # The root level is listed with a delimiter so a bucket full of results/ is not walked.
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if prefix == "":
            kwargs["Delimiter"] = "/"
        try:
            for page in paginator.paginate(**kwargs):
                for obj in page.get("Contents", []):
                    found[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
        except ClientError as e:
            raise PublishError(f"cannot list s3://{bucket}/{prefix}: {e}") from e
    return found


def _unchanged(s3, bucket: str, item: Item, existing: dict[str, tuple[int, str]]) -> bool:
    """Whether the bucket already holds exactly this content under the item's key."""
    if item.key not in existing:
        return False
    size, etag = existing[item.key]
    if size != item.size():
        return False
    md5 = item.md5()
    if etag == md5 and not item.metadata:
        return True
    # Multipart or KMS-encrypted objects have an ETag that is not the MD5, and the listing does not
    # show metadata: ask the object's head.
    try:
        head = s3.head_object(Bucket=bucket, Key=item.key)
    except ClientError as e:
        raise PublishError(f"cannot read s3://{bucket}/{item.key}: {e}") from e
    stored = head.get("Metadata", {})
    return (etag == md5 or stored.get("md5") == md5) and all(
        stored.get(name) == value for name, value in item.metadata.items())


class _Progress(BaseSubscriber):
    """Moves the shared progress bar as bytes go out."""

    def __init__(self, bar: tqdm, lock: threading.Lock) -> None:
        self._bar = bar
        self._lock = lock

    def on_progress(self, future, bytes_transferred, **kwargs):
        with self._lock:
            self._bar.update(bytes_transferred)


def sync(
    s3,
    bucket: str,
    items: Sequence[Item],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    label: str = "upload",
    progress: bool = True,
) -> Counts:
    """Upload the items that differ from what the bucket holds, many at once; return the counts."""
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise PublishError(f"two files map to the same key: {', '.join(dupes[:5])}")
    existing = list_existing(s3, bucket, keys)
    # Items with metadata to compare need a HEAD each: asked many at once.
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        same = list(pool.map(lambda item: _unchanged(s3, bucket, item, existing), items))
    todo = [item for item, unchanged in zip(items, same, strict=True) if not unchanged]
    skipped = len(items) - len(todo)
    if not todo:
        return Counts(0, skipped)

    config = TransferConfig(
        max_concurrency=concurrency,
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_THRESHOLD,
    )
    lock = threading.Lock()
    total = sum(item.size() for item in todo)
    with (
        tqdm(total=total, unit="B", unit_scale=True, desc=f"{label} ({len(todo)} files)",
             disable=not progress, leave=False) as bar,
        create_transfer_manager(s3, config) as manager,
    ):
        futures = []
        for item in todo:
            extra = {"ContentType": item.guessed_type(), "Metadata": {**item.metadata, "md5": item.md5()}}
            if item.cache_control:
                extra["CacheControl"] = item.cache_control
            # s3transfer takes a filename (it reads in parallel parts) or a file object.
            body = io.BytesIO(item.data) if item.data is not None else str(item.path)
            future = manager.upload(body, bucket, item.key, extra_args=extra,
                                    subscribers=[_Progress(bar, lock)])
            futures.append((item, future))
        failed = []
        for item, future in futures:
            try:
                future.result()
            except (ClientError, BotoCoreError, OSError) as e:
                failed.append(f"{item.key}: {e}")
    if failed:
        raise PublishError(f"{len(failed)} uploads to s3://{bucket} failed, first: {failed[0]}")
    return Counts(len(todo), skipped)
