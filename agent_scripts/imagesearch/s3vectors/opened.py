"""An index version searched in Amazon S3 Vectors: the instance keeps the model and the mean only.

Queries the vector index imagesearch.s3vectors.backend writes, and refuses one whose tags name
another version or other weights (docs/contracts.md, "Index backends").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.index.lazy_model import LazyFeaturizer
from imagesearch.s3vectors.backend import (
    MAX_TOP_K,
    META_HASH,
    MODE,
    VectorIndexRef,
    call,
    fingerprint,
    make_client,
    read_state,
)


class StoredVector(NamedTuple):
    """An indexed image's vector, read from the vector index (stands where OpenIndex has a row)."""

    key: str
    vector: np.ndarray


class S3VectorsIndex(LazyFeaturizer):
    """An index version whose vectors are queried in S3 Vectors; the instance keeps only the model and mean.

    Duck-types imagesearch.index.opened.OpenIndex for imagesearch.agent.querying: lookup, vector,
    featurize, search_vector, resolve_mode, version, count, manifest, featurizer, warm_up.
    """

    def __init__(self, *, version: str, manifest: dict, mean: np.ndarray, client: Any, ref: VectorIndexRef,
                 featurizer: Any = None, s3: Any = None, cache_dir: str | None = None,
                 max_pixels: int = 40_000_000, state_ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.version = version
        self.manifest = manifest
        self.count = int(manifest["count"])
        self.default_mode = MODE
        self.default_probes = None
        self.fingerprint = fingerprint(manifest)
        self._mean = np.asarray(mean, dtype=np.float32)
        self._client = client
        self.ref = ref
        self._featurizer = featurizer
        self._s3 = s3
        self._cache_dir = cache_dir
        self._max_pixels = max_pixels
        self._state_ttl = state_ttl
        self._clock = clock
        self._checked_at: float | None = None
        self._load_lock = threading.Lock()

    @classmethod
    def open(cls, index_root: Any, *, client: Any, ref: VectorIndexRef, s3: Any = None,
             cache_dir: str | None = None, version: str | None = None, featurizer: Any = None,
             max_pixels: int = 40_000_000) -> S3VectorsIndex:
        """Open `version` (default: current.json's): manifest and mean only; then check the vector index."""
        from imagesearch.index.storage import open_store
        from imagesearch.model.features import matches_manifest

        store = open_store(index_root, s3=s3)
        if version is None:
            version = store.read_current()
            if version is None:
                raise SearchError("index_unavailable", f"no index at {store.root} (no current.json)")
        manifest = store.read_manifest(version)
        if manifest.get("version") != version:
            raise SearchError("index_unavailable",
                              f"{store.root}/{version} holds {manifest.get('version')!r}")
        if featurizer is not None and not matches_manifest(featurizer, manifest):
            featurizer = None
        index = cls(version=version, manifest=manifest, mean=store.read_array(version, "mean"), client=client,
                    ref=ref, featurizer=featurizer, s3=s3, cache_dir=cache_dir, max_pixels=max_pixels)
        index.check_state(opening=True)
        return index

    def check_state(self, *, opening: bool = False) -> None:
        """Refuse a vector index written for other weights (or behind this version when opening)."""
        now = self._clock()
        if not opening and self._checked_at is not None and now - self._checked_at < self._state_ttl:
            return
        state = read_state(self._client, self.ref)
        where = f"vector index {self.ref.bucket}/{self.ref.index}"
        if state is None:
            raise SearchError("index_unavailable", f"{where} holds no synced version yet")
        if state.fingerprint != self.fingerprint:
            raise SearchError("index_unavailable", f"{where} holds vectors of other weights or another "
                              f"build ({state.fingerprint} for {state.version}; this version is "
                              f"{self.fingerprint}): refused, never mixed")
        # Version ids sort by time: an older recorded version lacks this one's images.
        if opening and state.version < self.version:
            raise SearchError("index_unavailable", f"{where} holds version {state.version}, "
                              f"older than {self.version}: publish has not finished writing it")
        self._checked_at = now

    def lookup(self, content_hash: str, gallery_key: str | None = None) -> StoredVector | None:
        """The stored vector of the image at gallery_key when its content hash matches, else None."""
        if not gallery_key:
            return None  # an upload or an unknown place: featurized like any new image
        found = call(self._client.get_vectors, **self.ref.params(), keys=[gallery_key], returnData=True,
                     returnMetadata=True).get("vectors", [])
        for v in found:
            if v["key"] == gallery_key and (v.get("metadata") or {}).get(META_HASH) == content_hash:
                return StoredVector(gallery_key, np.asarray(v["data"]["float32"], dtype=np.float32))
        return None

    def vector(self, row: StoredVector) -> np.ndarray:
        """The stored search vector of a lookup() result."""
        return row.vector

    def search_vector(self, vector: np.ndarray, k: int, *, mode: str | None = None, probes: int | None = None,
                      exclude_hash: str | None = None) -> list[dict]:
        """[{"key", "score"}] best first from QueryVectors; score = 1 - cosine distance, as in memory."""
        self.resolve_mode(mode)
        if not 1 <= k < MAX_TOP_K:
            raise SearchError("bad_request", f"k must be 1..{MAX_TOP_K - 1} with S3 Vectors, not {k}")
        self.check_state()
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        # One more than asked: the query image itself, when indexed, is its own nearest neighbour.
        answer = call(self._client.query_vectors, **self.ref.params(), topK=k + 1,
                      queryVector={"float32": q.tolist()}, returnDistance=True, returnMetadata=True)
        results = []
        for v in answer.get("vectors", []):
            if exclude_hash and (v.get("metadata") or {}).get(META_HASH) == exclude_hash:
                continue
            results.append({"key": v["key"], "score": round(1.0 - float(v["distance"]), 6)})
        return results[:k]

    def smoke_query(self) -> None:
        """Prove the vector index answers before this version goes live (one query, any vector)."""
        if self.count > 0:
            probe = np.zeros(self._mean.shape[0], dtype=np.float32)
            probe[0] = 1.0
            self.search_vector(probe, 1)

    def resolve_mode(self, mode: str | None) -> str:
        """Always "s3vectors": the vector index has no lsh/exact choice; asking for one is refused."""
        if mode not in (None, MODE):
            raise SearchError("bad_request",
                              f"this index is served by S3 Vectors; mode {mode!r} does not apply")
        return MODE


def index_opener(settings: Any, *, client: Any = None) -> Callable[..., Any]:
    """How this process opens a version: OpenIndex.open, or S3VectorsIndex.open (IMAGESEARCH_BACKEND)."""
    import functools

    if settings.backend != "s3vectors":
        from imagesearch.index.opened import OpenIndex, QueryConfig

        return functools.partial(OpenIndex.open, query=QueryConfig.from_settings(settings))
    if not settings.vector_bucket or not settings.vector_index:
        raise SearchError("internal", "IMAGESEARCH_BACKEND=s3vectors needs IMAGESEARCH_VECTOR_BUCKET "
                          "and IMAGESEARCH_VECTOR_INDEX")
    return functools.partial(S3VectorsIndex.open, client=client if client is not None else make_client(),
                             ref=VectorIndexRef(settings.vector_bucket, settings.vector_index),
                             max_pixels=settings.max_pixels)
