"""The local stack's moto S3 server, plus what only the bench needs: injected latency and fixtures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from devstack.s3server import MotoServer, client


@contextmanager
def s3_server(pool: int = 32) -> Iterator[tuple[str, object]]:
    """Run the devstack's moto server on 127.0.0.1 and yield (endpoint URL, S3 client)."""
    with MotoServer() as server:
        yield server.endpoint_url, client("s3", server.endpoint_url, max_pool=pool)


def inject_latency(s3, operation: str, seconds: float) -> None:
    """Sleep `seconds` before every `operation` request the client sends (in the calling thread).

    The sleep happens in the thread that issues the request, so parallel requests overlap their
    waits exactly as they overlap real network round trips.
    """
    def delay(**_: object) -> None:
        time.sleep(seconds)  # returning None lets botocore send the request as usual

    s3.meta.events.register(f"before-send.s3.{operation}", delay)


def ensure_bucket(s3, bucket: str) -> None:
    """Create the bucket unless it exists."""
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)


def put_objects(s3, bucket: str, keys: list[str], body: bytes) -> None:
    """Create the bucket (if needed) and put the same small body under every key."""
    ensure_bucket(s3, bucket)
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
