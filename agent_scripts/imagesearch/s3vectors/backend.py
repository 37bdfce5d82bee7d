"""Amazon S3 Vectors as the index backend: the vector index's limits, state and writes.

The index version (manifest, mean, keys, hashes) stays where it is (imagesearch.index.storage); with this
backend its vectors also live in one S3 vector index (cosine, float32), one vector per gallery key
with the album as filterable metadata and the content hash as non-filterable metadata. Which
version and which weights wrote the vectors is recorded in two tags of the vector index, so a
daemon never queries vectors made by other weights (docs/contracts.md, "Index backends").
The published limits used below, with their sources and dates, are in docs/scale.md. Searching
the vector index is imagesearch.s3vectors.opened.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from imagesearch.errors import SearchError

BACKENDS = ("instance", "s3vectors")
DIMENSION = 2048  # ResNet-50's pooled features (manifest "dim"); the template's index has the same
PUT_BATCH = 500  # vectors per PutVectors and per DeleteVectors call
GET_BATCH = 100  # vectors per GetVectors call
LIST_PAGE = 1000  # vectors per ListVectors page
MAX_TOP_K = 100  # results per QueryVectors request
# Error codes botocore reports for a request S3 Vectors refused for its rate (429 and 503 alike).
THROTTLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling",
                            "SlowDown", "ServiceUnavailableException", "RequestLimitExceeded"})
TAG_VERSION = "imagesearch-version"
TAG_FINGERPRINT = "imagesearch-fingerprint"
REWRITING = "rewriting"  # fingerprint tag while publish rewrites every vector for new weights
META_ALBUM = "album"  # filterable
META_HASH = "sha256"  # non-filterable (declared at index creation)
MODE = "s3vectors"  # the answer's index.mode with this backend


@dataclass(frozen=True)
class VectorIndexRef:
    """One S3 vector index: its vector bucket and its name."""

    bucket: str
    index: str

    def params(self) -> dict[str, str]:
        """The request fields naming this index."""
        return {"vectorBucketName": self.bucket, "indexName": self.index}


class BackendState(NamedTuple):
    """What the vector index's tags say about the vectors in it."""

    version: str
    fingerprint: str


class SyncReport(NamedTuple):
    """What one sync wrote: vectors put, deleted, left as they were, and whether all were rewritten."""

    put: int
    deleted: int
    kept: int
    rewritten: bool


def fingerprint(manifest: dict) -> str:
    """What makes two versions' vectors comparable: weights digest, input size, dimension and mean."""
    # The stored vectors are centred on the build's mean: a new mean is a new vector space too.
    parts = {"weights": manifest["weights"]["sha256"], "input_size": manifest["model"]["input_size"],
             "dim": manifest.get("dim", DIMENSION),
             "mean": manifest.get("files", {}).get("mean.npy", {}).get("sha256")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def album_of(key: str) -> str:
    """The album of a gallery key `gallery/<album>/<file>`."""
    parts = key.split("/")
    return parts[1] if len(parts) >= 3 else ""


def _code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "")


def call(fn: Callable[..., Any], *, attempts: int = 8, sleep: Callable[[float], None] = time.sleep,
         base: float = 0.2, cap: float = 10.0, **kwargs: Any) -> Any:
    """fn(**kwargs), asked again after a growing pause while S3 Vectors answers with a throttle code."""
    from botocore.exceptions import ClientError

    for attempt in range(attempts):
        try:
            return fn(**kwargs)
        except ClientError as e:
            if _code(e) not in THROTTLE_CODES or attempt == attempts - 1:
                raise
            sleep(min(cap, base * 2 ** attempt))
    raise AssertionError("unreachable")


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ------------------------------------------------------------------------ setup and state


def ensure_index(client: Any, ref: VectorIndexRef, *, dimension: int = DIMENSION) -> bool:
    """Create the vector bucket and index unless they exist (local runs); True when created."""
    from botocore.exceptions import ClientError

    try:
        client.get_index(**ref.params())
        return False
    except ClientError as e:
        if _code(e) not in ("NotFoundException", "NoSuchIndex", "ResourceNotFoundException"):
            raise
    try:
        client.create_vector_bucket(vectorBucketName=ref.bucket)
    except ClientError as e:
        if _code(e) != "ConflictException":  # the bucket exists: only the index is missing
            raise
    client.create_index(**ref.params(), dataType="float32", dimension=dimension, distanceMetric="cosine",
                        metadataConfiguration={"nonFilterableMetadataKeys": [META_HASH]})
    return True


def _index_arn(client: Any, ref: VectorIndexRef) -> str:
    return client.get_index(**ref.params())["index"]["indexArn"]


def read_state(client: Any, ref: VectorIndexRef) -> BackendState | None:
    """The version and fingerprint the index's tags record; None when nothing was synced yet."""
    tags = client.list_tags_for_resource(resourceArn=_index_arn(client, ref)).get("tags", {})
    if TAG_VERSION not in tags or TAG_FINGERPRINT not in tags:
        return None
    return BackendState(tags[TAG_VERSION], tags[TAG_FINGERPRINT])


def write_state(client: Any, ref: VectorIndexRef, state: BackendState) -> None:
    """Record which version and fingerprint the vectors now hold (two tags, one request)."""
    client.tag_resource(resourceArn=_index_arn(client, ref),
                        tags={TAG_VERSION: state.version, TAG_FINGERPRINT: state.fingerprint})


# ------------------------------------------------------------------------ writing


def put_vectors(client: Any, ref: VectorIndexRef, items: Iterable[tuple[str, str, np.ndarray]], *,
                sleep: Callable[[float], None] = time.sleep) -> int:
    """Write (gallery key, content hash, vector) items as float32 in PutVectors batches; return the count."""
    count = 0
    batch: list[dict] = []
    for key, content_hash, vector in items:
        batch.append({"key": key,
                      "data": {"float32": np.asarray(vector, dtype=np.float32).reshape(-1).tolist()},
                      "metadata": {META_ALBUM: album_of(key), META_HASH: content_hash}})
        if len(batch) == PUT_BATCH:
            call(client.put_vectors, sleep=sleep, **ref.params(), vectors=batch)
            count += len(batch)
            batch = []
    if batch:
        call(client.put_vectors, sleep=sleep, **ref.params(), vectors=batch)
        count += len(batch)
    return count


def delete_vectors(client: Any, ref: VectorIndexRef, keys: Iterable[str], *,
                   sleep: Callable[[float], None] = time.sleep) -> int:
    """Delete vectors by gallery key in DeleteVectors batches; return the count asked for."""
    keys = list(keys)
    for batch in _batches(keys, PUT_BATCH):
        call(client.delete_vectors, sleep=sleep, **ref.params(), keys=batch)
    return len(keys)


def stored_hashes(client: Any, ref: VectorIndexRef, *,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """{gallery key: content hash} of every vector in the index (ListVectors, metadata only)."""
    found: dict[str, str] = {}
    token = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = call(client.list_vectors, sleep=sleep, **ref.params(), maxResults=LIST_PAGE,
                    returnMetadata=True, **extra)
        for v in page.get("vectors", []):
            found[v["key"]] = (v.get("metadata") or {}).get(META_HASH, "")
        token = page.get("nextToken")
        if not token:
            return found


def sync_version(client: Any, ref: VectorIndexRef, manifest: dict, arrays: dict[str, np.ndarray], *,
                 sleep: Callable[[float], None] = time.sleep) -> SyncReport:
    """Make the vector index hold exactly this version's vectors, then record its version and fingerprint.

    Same fingerprint as recorded: only new or changed images are put and removed ones deleted.
    Another fingerprint (new weights, size or mean): the state is first marked as being rewritten,
    so daemons refuse to query it, then every vector is put again (a vector is never mixed with
    ones made by other weights).
    """
    version = manifest["version"]
    fp = fingerprint(manifest)
    dim = int(manifest.get("dim", DIMENSION))
    if arrays["vectors"].shape[1:] != (dim,):
        raise SearchError("index_unavailable",
                          f"vectors have shape {arrays['vectors'].shape}, manifest dim {dim}")
    keys = [str(k) for k in arrays["keys"].tolist()]
    hashes = [h.decode("ascii") if isinstance(h, bytes) else str(h) for h in arrays["hashes"].tolist()]
    state = read_state(client, ref)
    stored = stored_hashes(client, ref, sleep=sleep)
    rewrite = state is None and bool(stored) or state is not None and state.fingerprint != fp
    if rewrite:
        write_state(client, ref, BackendState(version, REWRITING))
    rows = [r for r, (k, h) in enumerate(zip(keys, hashes, strict=True)) if rewrite or stored.get(k) != h]
    vectors = arrays["vectors"]
    put = put_vectors(client, ref, ((keys[r], hashes[r], vectors[r]) for r in rows), sleep=sleep)
    wanted = set(keys)
    deleted = delete_vectors(client, ref, sorted(k for k in stored if k not in wanted), sleep=sleep)
    write_state(client, ref, BackendState(version, fp))
    return SyncReport(put=put, deleted=deleted, kept=len(keys) - put, rewritten=rewrite)


def sync_index_version(client: Any, ref: VectorIndexRef, index_root: Any, *, s3: Any = None,
                       version: str | None = None, cache_dir: str | None = None,
                       sleep: Callable[[float], None] = time.sleep) -> SyncReport:
    """Write one version of an index root (default: the live one) to the vector index.

    The one call publish and the ingest path make after a new version is stored.
    """
    from imagesearch.index.artifacts import load_version
    from imagesearch.index.storage import open_store

    store = open_store(index_root, s3=s3)
    version = version or store.read_current()
    if version is None:
        raise SearchError("index_unavailable", f"no index at {store.root} (no current.json)")
    manifest, arrays = load_version(store.local_dir(version, cache_dir=cache_dir))
    ensure_index(client, ref, dimension=int(manifest.get("dim", DIMENSION)))
    return sync_version(client, ref, manifest, arrays, sleep=sleep)


def make_client(max_connections: int = 10) -> Any:
    """The s3vectors client (honours AWS_ENDPOINT_URL like the agent's S3 client)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3vectors", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                   max_pool_connections=max(10, max_connections),
                                                   connect_timeout=5, read_timeout=10))
