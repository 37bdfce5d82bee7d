"""With IndexBackend=s3vectors: write the live index version's vectors to the stack's S3 vector index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagesearch.errors import SearchError

from publish.uploader import PublishError

VECTOR_INDEX_NAME = "images"  # the template's VectorIndex IndexName


def publish_vectors(s3vectors: Any, s3: Any, gallery_bucket: str, vector_bucket: str, *, cache_dir: Path,
                    index_name: str = VECTOR_INDEX_NAME) -> Any:
    """Sync s3://<gallery>/index's live version into the vector index (the diff; all for new weights)."""
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
    from imagesearch.s3vectors.backend import VectorIndexRef, sync_index_version

    store = S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX)
    try:
        return sync_index_version(s3vectors, VectorIndexRef(vector_bucket, index_name), store, s3=s3,
                                  cache_dir=str(cache_dir))
    except SearchError as e:
        raise PublishError(f"vector index sync failed ({e.code}): {e.message}") from e
