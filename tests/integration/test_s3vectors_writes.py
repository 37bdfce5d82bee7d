"""The S3 Vectors backend's writes against the local emulation (moto's s3vectors) over real HTTP.

The emulation creates vector buckets and indexes, tags them and puts, gets, lists and deletes
vectors; it has no QueryVectors (the last test pins that), so the query side is tested with
botocore's Stubber in tests/unit/engine/test_s3vectors_backend.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from botocore.exceptions import ClientError
from imagesearch.s3vectors.backend import (
    DIMENSION,
    META_HASH,
    PUT_BATCH,
    REWRITING,
    BackendState,
    VectorIndexRef,
    ensure_index,
    fingerprint,
    read_state,
    stored_hashes,
    sync_version,
    write_state,
)

REF = VectorIndexRef("vectors-it", "images")


@pytest.fixture(scope="module")
def vectors_client():
    from devstack.s3server import MotoServer, client

    with MotoServer() as server:
        yield client("s3vectors", server.endpoint_url)


def collection(n: int, *, seed: int = 0, weights: str = "w1") -> tuple[dict, dict]:
    """A version's manifest and arrays as the build writes them (keys, hashes, unit vectors)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = np.array([f"gallery/album{i % 7}/img_{i:05d}.png" for i in range(n)])
    hashes = np.array([f"{i:064x}".encode() for i in range(n)], dtype="S64")
    manifest = {"version": f"20250101T0000{seed:02d}Z-abcdef", "count": n, "dim": DIMENSION,
                "weights": {"sha256": weights}, "model": {"input_size": 32},
                "files": {"mean.npy": {"sha256": "m"}}}
    return manifest, {"vectors": vectors, "keys": keys, "hashes": hashes}


def test_index_is_created_once(vectors_client):
    assert ensure_index(vectors_client, REF) is True
    assert ensure_index(vectors_client, REF) is False
    index = vectors_client.get_index(**REF.params())["index"]
    shape = (index["dimension"], index["distanceMetric"], index["dataType"])
    assert shape == (DIMENSION, "cosine", "float32")


def test_a_version_is_written_in_batches_and_read_back(vectors_client):
    ensure_index(vectors_client, REF)
    n = 2 * PUT_BATCH + 37  # three PutVectors calls
    manifest, arrays = collection(n)
    report = sync_version(vectors_client, REF, manifest, arrays, sleep=lambda s: None)
    assert report.put == n and report.deleted == 0
    assert len(stored_hashes(vectors_client, REF)) == n
    got = vectors_client.get_vectors(**REF.params(), keys=[str(arrays["keys"][5])], returnData=True,
                                     returnMetadata=True)["vectors"][0]
    np.testing.assert_array_equal(np.asarray(got["data"]["float32"], dtype=np.float32), arrays["vectors"][5])
    assert got["metadata"] == {"album": "album5", META_HASH: arrays["hashes"][5].decode()}
    state = read_state(vectors_client, REF)
    assert state.version == manifest["version"] and state.fingerprint != REWRITING


def test_the_next_version_writes_only_what_changed(vectors_client):
    ensure_index(vectors_client, REF)
    manifest, arrays = collection(40, seed=1)
    sync_version(vectors_client, REF, manifest, arrays, sleep=lambda s: None)
    # Next version: two images removed, one changed (new content hash), one added.
    keep = np.arange(2, 40)
    keys = np.append(arrays["keys"][keep], "gallery/new/img.png")
    hashes = np.append(arrays["hashes"][keep], np.array([b"f" * 64], dtype="S64"))
    hashes[0] = b"e" * 64
    vectors = np.vstack([arrays["vectors"][keep], arrays["vectors"][:1]])
    report = sync_version(vectors_client, REF, {**manifest, "version": "20250101T000002Z-abcdef"},
                          {"keys": keys, "hashes": hashes, "vectors": vectors}, sleep=lambda s: None)
    assert (report.put, report.deleted, report.kept, report.rewritten) == (2, 2, 37, False)
    stored = stored_hashes(vectors_client, REF)
    assert set(stored) == set(keys.tolist()) and stored[str(keys[0])] == "e" * 64


def test_new_weights_rewrite_every_vector(vectors_client):
    ensure_index(vectors_client, REF)
    manifest, arrays = collection(30, seed=3)
    sync_version(vectors_client, REF, manifest, arrays, sleep=lambda s: None)
    other, _ = collection(30, seed=3, weights="w2")
    report = sync_version(vectors_client, REF, other, arrays, sleep=lambda s: None)
    assert report.rewritten and report.put == 30
    assert read_state(vectors_client, REF) == BackendState(other["version"], fingerprint(other))


def test_state_tags_round_trip(vectors_client):
    ensure_index(vectors_client, REF)
    write_state(vectors_client, REF, BackendState("20250101T000009Z-abcdef", REWRITING))
    assert read_state(vectors_client, REF) == BackendState("20250101T000009Z-abcdef", REWRITING)


def test_the_emulation_has_no_query(vectors_client):
    """Why the query path is tested with the Stubber: the emulation does not answer QueryVectors."""
    ensure_index(vectors_client, REF)
    with pytest.raises((ClientError, NotImplementedError)):
        vectors_client.query_vectors(**REF.params(), topK=1, queryVector={"float32": [1.0] * DIMENSION})
