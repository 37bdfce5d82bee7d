"""Keep the S3 vector index in step with the live index version (docs/scale.md)."""

from __future__ import annotations

from typing import Any

from imagesearch.settings import Settings


def sync_vector_backend(settings: Settings, index_root: str, version: str, *, s3: Any,
                        cache_dir: str | None, client: Any = None) -> dict:
    """With IMAGESEARCH_BACKEND=s3vectors, write the new version's vectors before the daemon reloads.

    The daemon refuses a vector index whose recorded version is not its own, so the sync comes first
    (docs/scale.md); with the in-memory backend there is nothing to do.
    """
    if settings.backend != "s3vectors":
        return {"backend": settings.backend}
    from imagesearch.s3vectors.backend import VectorIndexRef, make_client, sync_index_version

    ref = VectorIndexRef(settings.vector_bucket, settings.vector_index)
    report = sync_index_version(client if client is not None else make_client(), ref, index_root,
                                s3=s3, version=version, cache_dir=cache_dir)
    return {"backend": "s3vectors", **report._asdict()}
