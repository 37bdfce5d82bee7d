"""One search as the agent runs it: fetch the query image from S3, then search an open index.

Shared by the warm daemon and the thin client's cold path so both answer the same JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from imagesearch.agent.protocol import Request
from imagesearch.errors import SearchError
from imagesearch.index.calibration import with_bands
from imagesearch.index.opened import index_summary
from imagesearch.model.images import content_hash
from imagesearch.s3io import read_s3_capped


def make_s3_client(max_connections: int) -> Any:
    """The agent's S3 client (honours AWS_ENDPOINT_URL, so locally it reaches the moto server)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                            max_pool_connections=max(10, max_connections),
                                            connect_timeout=5, read_timeout=10))


def fetch_query_image(s3: Any, bucket: str, key: str, *, max_bytes: int,
                      allowed_buckets: frozenset[str] = frozenset()) -> bytes:
    """The query image's bytes, refusing buckets outside the allow-list and oversized objects."""
    if allowed_buckets and bucket not in allowed_buckets:
        raise SearchError("bad_request", f"bucket {bucket!r} is not one this agent reads query images from")
    return read_s3_capped(s3, bucket, key, max_bytes)


def gallery_key_of(query_key: str) -> str | None:
    """The gallery key of a query key: albums/<a>/<f> and gallery/<a>/<f> name gallery/<a>/<f>."""
    prefix, _, rest = query_key.partition("/")
    return f"gallery/{rest}" if prefix in ("albums", "gallery") and rest else None


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def search_s3_image(index: Any, s3: Any, request: Request, *, max_bytes: int,
                    allowed_buckets: frozenset[str] = frozenset(),
                    featurize: Callable[[bytes], Any] | None = None,
                    search_slot: AbstractContextManager | None = None) -> dict:
    """The agent JSON answer for the S3 image a request names: fetch it, search, add `timings_ms.fetch`."""
    started = time.perf_counter()
    data = fetch_query_image(s3, request.bucket, request.key, max_bytes=max_bytes,
                             allowed_buckets=allowed_buckets)
    fetch_s = time.perf_counter() - started
    answer = search_image_bytes(index, data, request.k, mode=request.mode, featurize=featurize,
                                search_slot=search_slot, gallery_key=gallery_key_of(request.key))
    answer["timings_ms"]["fetch"] = _ms(fetch_s)
    answer["timings_ms"]["total"] = _ms(time.perf_counter() - started)
    return answer


def search_image_bytes(index: Any, data: bytes, k: int, *, mode: str | None = None,
                       probes: int | None = None,
                       featurize: Callable[[bytes], Any] | None = None,
                       search_slot: AbstractContextManager | None = None,
                       gallery_key: str | None = None) -> dict:
    """The agent JSON answer for image bytes against one OpenIndex (or an S3VectorsIndex).

    An image already in the index (same content hash) reuses its stored vector, so it never waits
    for the featurizer; only new images call `featurize` (default `index.featurize`; the daemon
    passes one that runs on its single model thread, since MXNet is not thread-safe). Only the
    search itself holds `search_slot`, so an indexed image never waits behind a featurization.
    The image itself is excluded from its own matches. `gallery_key` says where the image would
    be in the gallery: the S3 Vectors backend reads an indexed image's vector by that key.
    The answer's `query.sha256` is the hash of `data`, the bytes actually searched: the function
    files the answer in its result cache only under this hash (docs/contracts.md, "Agent output").
    """
    started = time.perf_counter()
    mode = index.resolve_mode(mode)  # once, so the answer names the mode the search used
    digest = content_hash(data)
    row = index.lookup(digest, gallery_key)
    featurize_s = 0.0
    if row is not None:
        vector = index.vector(row)
    else:
        t0 = time.perf_counter()
        vector = (featurize or index.featurize)(data)
        featurize_s = time.perf_counter() - t0
    with search_slot or nullcontext():
        t0 = time.perf_counter()
        results = index.search_vector(vector, k, mode=mode, probes=probes, exclude_hash=digest)
        search_s = time.perf_counter() - t0
    return {
        "ok": True,
        "query": {"sha256": digest},
        # search_vector's [{"key", "score"}] (scores already rounded), each with its score band.
        "results": with_bands(results, _bands(index)),
        "index": index_summary(index, mode),
        "timings_ms": {"featurize": _ms(featurize_s), "search": _ms(search_s),
                       "total": _ms(time.perf_counter() - started)},
        "indexed": row is not None,
    }


def _bands(index: Any) -> dict | None:
    return (getattr(index, "manifest", None) or {}).get("bands")
