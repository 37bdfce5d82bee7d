"""The S3 Vectors backend's query side, against botocore's Stubber with the documented shapes.

The local emulation (moto) has no QueryVectors, so every request and response here is checked
by botocore against the service model: request shapes, response shapes, error codes. Writes
against the emulation over HTTP are in tests/integration/test_s3vectors_writes.py. Only a real
deployment (`make smoke`) proves the service answers as documented.
"""

from __future__ import annotations

import dataclasses

import boto3
import numpy as np
import pytest
from botocore.stub import ANY, Stubber
from imagesearch import settings
from imagesearch.agent.querying import search_image_bytes
from imagesearch.errors import SearchError
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import LocalIndexStore
from imagesearch.model.images import content_hash
from imagesearch.ops.build import build_index
from imagesearch.s3vectors.backend import (
    META_HASH,
    REWRITING,
    TAG_FINGERPRINT,
    TAG_VERSION,
    VectorIndexRef,
    album_of,
    call,
    fingerprint,
)
from imagesearch.s3vectors.opened import S3VectorsIndex, index_opener

from .conftest import noise_png

REF = VectorIndexRef("vectors-test", "images")
ARN = "arn:aws:s3vectors:us-east-1:123456789012:bucket/vectors-test/index/images"
K = 5


@pytest.fixture
def client():
    c = boto3.client("s3vectors", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(c) as stub:
        c.stub = stub
        yield c
        stub.assert_no_pending_responses()


@pytest.fixture
def root(albums, featurizer, tmp_path):
    config = dataclasses.replace(BuildConfig.from_settings(settings.load()), lsh=LshBuildParams(tables=4),
                                 probes=4, threads=2)
    out = str(tmp_path / "index")
    build_index(albums, out, featurizer=featurizer, config=config)
    return out


def expect_state(client, version: str, fp: str) -> None:
    client.stub.add_response("get_index", {"index": {
        "vectorBucketName": REF.bucket, "indexName": REF.index, "indexArn": ARN, "creationTime": 0,
        "dataType": "float32", "dimension": 2048, "distanceMetric": "cosine"}}, REF.params())
    client.stub.add_response("list_tags_for_resource", {"tags": {TAG_VERSION: version, TAG_FINGERPRINT: fp}},
                             {"resourceArn": ARN})


def expect_query(client, memory: OpenIndex, vector: np.ndarray, k: int) -> None:
    """QueryVectors answered from the in-memory truth: the k+1 nearest, query image included."""
    truth = memory.search_vector(vector, k + 1, mode="exact")
    hashes = {memory.key(r): h for h, rows in memory._rows_by_hash.items() for r in rows}
    client.stub.add_response(
        "query_vectors",
        {"distanceMetric": "cosine",
         "vectors": [{"key": m["key"], "distance": 1.0 - m["score"],
                      "metadata": {"album": album_of(m["key"]), META_HASH: hashes[m["key"]]}}
                     for m in truth]},
        {**REF.params(), "topK": k + 1, "queryVector": {"float32": ANY}, "returnDistance": True,
         "returnMetadata": True})


def open_both(root, client, featurizer):
    memory = OpenIndex.open(root, featurizer=featurizer)
    expect_state(client, memory.version, fingerprint(memory.manifest))
    remote = S3VectorsIndex.open(root, client=client, ref=REF, featurizer=featurizer)
    return memory, remote


def exact_with_self(memory: OpenIndex, vector: np.ndarray, k: int, digest: str) -> list[dict]:
    return memory.search_vector(vector, k, mode="exact", exclude_hash=digest)


def test_both_backends_answer_the_same_for_an_indexed_image(root, client, featurizer):
    # GIVEN one collection behind both backends, the S3 Vectors side stubbed from the in-memory truth
    memory, remote = open_both(root, client, featurizer)
    row = 7
    key = memory.key(row)
    data = open(f"{root}/../albums/{key.removeprefix('gallery/')}", "rb").read()
    digest = content_hash(data)
    stored = memory.vector(row)
    client.stub.add_response("get_vectors", {"vectors": [{
        "key": key, "data": {"float32": stored.tolist()},
        "metadata": {"album": album_of(key), META_HASH: digest}}]},
        {**REF.params(), "keys": [key], "returnData": True, "returnMetadata": True})
    expect_query(client, memory, stored, K)
    # WHEN the same image is searched on each
    want = search_image_bytes(memory, data, K, mode="exact", gallery_key=key)
    got = search_image_bytes(remote, data, K, gallery_key=key)
    # THEN the answers have one shape, the same matches in the same order, and the same scores
    assert got.keys() == want.keys()
    assert got["index"].keys() == want["index"].keys()
    assert got["timings_ms"].keys() == want["timings_ms"].keys()
    assert got["indexed"] is want["indexed"] is True
    assert [r["key"] for r in got["results"]] == [r["key"] for r in want["results"]]
    assert key not in [r["key"] for r in got["results"]]  # self-excluded
    for g, w in zip(got["results"], want["results"], strict=True):
        assert g["score"] == pytest.approx(w["score"], abs=2e-6)
    assert got["index"] == {"version": memory.version, "count": memory.count, "mode": "s3vectors",
                            "bands": want["index"]["bands"]}  # the version's score bands (issue 23)


def test_both_backends_answer_the_same_for_a_new_image(root, client, featurizer):
    memory, remote = open_both(root, client, featurizer)
    data = noise_png(99)
    vector = memory.featurize(data)
    np.testing.assert_allclose(remote.featurize(data), vector, atol=1e-6)  # same model, same mean
    expect_query(client, memory, vector, K)
    want = search_image_bytes(memory, data, K, mode="exact", gallery_key=None)
    got = search_image_bytes(remote, data, K, gallery_key=None)  # an upload: no stored vector to read
    assert got.keys() == want.keys() and got["indexed"] is want["indexed"] is False
    assert [r["key"] for r in got["results"]] == [r["key"] for r in want["results"]]


def test_a_vector_index_of_other_weights_is_refused(root, client, featurizer):
    version = LocalIndexStore(root).read_current()
    expect_state(client, version, "0" * 32)
    with pytest.raises(SearchError) as e:
        S3VectorsIndex.open(root, client=client, ref=REF, featurizer=featurizer)
    assert e.value.code == "index_unavailable" and "never mixed" in e.value.message


def test_a_vector_index_behind_the_version_is_refused_at_open(root, client, featurizer):
    memory = OpenIndex.open(root, featurizer=featurizer)
    expect_state(client, "20000101T000000Z-000000", fingerprint(memory.manifest))
    with pytest.raises(SearchError, match="older than"):
        S3VectorsIndex.open(root, client=client, ref=REF, featurizer=featurizer)


def test_a_rewrite_under_way_refuses_queries(root, client, featurizer):
    memory, remote = open_both(root, client, featurizer)
    remote._checked_at = -1e9  # the state is re-read once its few seconds have passed
    expect_state(client, memory.version, REWRITING)
    with pytest.raises(SearchError, match="never mixed"):
        remote.search_vector(memory.vector(0), K)


def test_modes_and_k_outside_the_api_limits_are_refused(root, client, featurizer):
    _, remote = open_both(root, client, featurizer)
    with pytest.raises(SearchError):
        remote.resolve_mode("exact")
    with pytest.raises(SearchError):
        remote.search_vector(np.ones(2048, dtype=np.float32), 100)  # topK would be 101 > 100


def test_throttles_are_retried_with_growing_pauses(client):
    pauses = []
    for _ in range(2):
        client.stub.add_client_error("put_vectors", service_error_code="TooManyRequestsException",
                                     http_status_code=429)
    client.stub.add_response("put_vectors", {})
    call(client.put_vectors, sleep=pauses.append, **REF.params(),
         vectors=[{"key": "gallery/a/x.png", "data": {"float32": [0.0] * 4}}])
    assert pauses == [0.2, 0.4]


def test_other_errors_are_not_retried(client):
    from botocore.exceptions import ClientError

    client.stub.add_client_error("put_vectors", service_error_code="ValidationException",
                                 http_status_code=400)
    with pytest.raises(ClientError):
        call(client.put_vectors, sleep=lambda s: pytest.fail("slept"), **REF.params(),
             vectors=[{"key": "gallery/a/x.png", "data": {"float32": [0.0] * 4}}])


def test_the_backend_setting_picks_the_opener():
    assert index_opener(settings.load({})).func == OpenIndex.open
    cfg = settings.load({"IMAGESEARCH_BACKEND": "s3vectors", "IMAGESEARCH_VECTOR_BUCKET": "v"})
    opener = index_opener(cfg, client=object())
    assert opener.func == S3VectorsIndex.open and opener.keywords["ref"] == VectorIndexRef("v", "images")
    with pytest.raises(SearchError):
        settings.load({"IMAGESEARCH_BACKEND": "opensearch"})
    with pytest.raises(SearchError):
        index_opener(settings.load({"IMAGESEARCH_BACKEND": "s3vectors"}), client=object())
