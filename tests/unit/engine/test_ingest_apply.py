"""`imagesearch ingest`'s apply_batch: one batch object -> one new index version, bad files reported."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import boto3
import pytest
from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.storage import LocalIndexStore
from imagesearch.ops.build import build_index, update_images
from imagesearch.ops.ingest import apply_batch, batch_lock

from .conftest import noise_png

BATCH = "ingest/" + "0" * 31 + "1.json"


def _config() -> BuildConfig:
    config = BuildConfig.from_settings(settings.load())
    return dataclasses.replace(config, lsh=LshBuildParams(tables=4), probes=4, threads=2)


@pytest.fixture
def index_root(albums, tmp_path, featurizer) -> str:
    root = str(tmp_path / "idx")
    build_index(albums, root, featurizer=featurizer, config=_config())
    return root


def _batch(s3, changes: list[tuple[str, str]], key: str = BATCH) -> str:
    body = {"bucket": "gallery", "changes": [{"key": k, "op": op, "sequencer": "01"} for k, op in changes]}
    s3.put_object(Bucket="gallery", Key=key, Body=json.dumps(body).encode())
    return key


def _apply(s3, root, featurizer, tmp_path, key=BATCH):
    return apply_batch(key, bucket="gallery", index_root=root, s3=s3, config=_config(),
                       cache_dir=str(tmp_path / "cache"), featurizer=featurizer,
                       after_publish=lambda version: {"reload": {"ok": True, "version": version}})


def _keys(root) -> set[str]:
    from imagesearch.index.artifacts import load_version

    store = LocalIndexStore(root)
    return set(load_version(store.local_dir(store.read_current()))[1]["keys"].tolist())


def test_adds_and_removes_in_one_version_and_reports_bad_files(s3, index_root, featurizer, tmp_path):
    # GIVEN two new images, a corrupt one, a non-image, and the deletion of an indexed image
    parent = LocalIndexStore(index_root).read_current()
    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    s3.put_object(Bucket="gallery", Key="gallery/new/b.png", Body=noise_png(2))
    s3.put_object(Bucket="gallery", Key="gallery/new/corrupt.png", Body=b"\x89PNG\r\n\x1a\nbroken")
    s3.put_object(Bucket="gallery", Key="gallery/new/notes.txt", Body=b"hello")
    _batch(s3, [("gallery/new/a.png", "put"), ("gallery/new/b.png", "put"),
                ("gallery/new/corrupt.png", "put"), ("gallery/new/notes.txt", "put"),
                ("gallery/brick/brick_00000.png", "delete")])
    # WHEN the batch is applied
    report = _apply(s3, index_root, featurizer, tmp_path)
    # THEN one new version holds the two images and not the deleted one; the bad files are listed
    assert report["changed"] and report["parent"] == parent
    assert (report["added"], report["removed"], report["count"]) == (2, 1, 40 + 2 - 1)
    assert {s["key"]: s["reason"] for s in report["skipped_files"]} == {
        "gallery/new/corrupt.png": "bad_image", "gallery/new/notes.txt": "bad_image"}
    assert report["reload"] == {"ok": True, "version": report["version"]}
    keys = _keys(index_root)
    assert {"gallery/new/a.png", "gallery/new/b.png"} <= keys and "gallery/brick/brick_00000.png" not in keys
    assert LocalIndexStore(index_root).list_versions() == sorted([parent, report["version"]])
    json.dumps(report)  # the report is printed as JSON
    assert len(json.dumps(report)) < 24000


def test_the_same_batch_twice_changes_nothing(s3, index_root, featurizer, tmp_path):
    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    _batch(s3, [("gallery/new/a.png", "put"), ("gallery/brick/brick_00000.png", "delete")])
    first = _apply(s3, index_root, featurizer, tmp_path)
    again = _apply(s3, index_root, featurizer, tmp_path)
    assert first["changed"] and not again["changed"]
    assert again["version"] == first["version"] and again["unchanged"] == 1 and again["removed"] == 0
    assert "reload" not in again


def test_the_bucket_now_decides_over_the_event(s3, index_root, featurizer, tmp_path):
    # A "put" whose object is gone is removed; a "delete" whose object is back is kept (batches may
    # be applied out of order; the gallery is the truth).
    _batch(s3, [("gallery/brick/brick_00001.png", "put"), ("gallery/new/never.png", "put")])
    report = _apply(s3, index_root, featurizer, tmp_path)
    assert report["gone"] == 2 and report["removed"] == 1
    assert "gallery/brick/brick_00001.png" not in _keys(index_root)


def test_a_create_then_delete_in_one_batch_is_a_no_op(s3, index_root, featurizer, tmp_path):
    _batch(s3, [("gallery/new/brief.png", "delete")])  # the function's net change of put-then-delete
    report = _apply(s3, index_root, featurizer, tmp_path)
    assert not report["changed"] and report["removed"] == 0


@pytest.mark.parametrize("key", ["ingest/../index/current.json", "index/current.json", BATCH + "\n",
                                 "ingest/ABC.json", "ingest/" + "0" * 32 + ".json;id"])
def test_only_batch_keys_are_read(s3, index_root, featurizer, tmp_path, key):
    with pytest.raises(SearchError) as e:
        _apply(s3, index_root, featurizer, tmp_path, key=key)
    assert e.value.code == "bad_request"


def test_a_transient_read_error_fails_the_batch_for_a_retry(s3, index_root, featurizer, tmp_path,
                                                            monkeypatch):
    import imagesearch.ops.ingest as ingest

    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    _batch(s3, [("gallery/new/a.png", "put")])

    def flaky(*_a, **_k):
        raise SearchError("internal", "SlowDown")

    monkeypatch.setattr(ingest, "read_s3_capped", flaky)
    with pytest.raises(SearchError) as e:
        _apply(s3, index_root, featurizer, tmp_path)
    assert e.value.code == "internal" and "SlowDown" in e.value.message


def test_update_images_without_changes_publishes_nothing(index_root, featurizer):
    before = LocalIndexStore(index_root).list_versions()
    report = update_images(index_root, sources=[], remove=["gallery/none/x.png"], featurizer=featurizer,
                           config=_config())
    assert report["not_found"] == ["gallery/none/x.png"]
    assert LocalIndexStore(index_root).list_versions() == before


def test_the_lock_lets_one_batch_in_at_a_time(tmp_path):
    path = str(tmp_path / "ingest.lock")
    with batch_lock(path, 1.0):
        with pytest.raises(SearchError, match="still holds"):
            with batch_lock(path, 0.3):
                pass
    with batch_lock(path, 0.3):
        assert os.path.exists(path)


def test_a_crash_before_the_pointer_moves_leaves_the_old_version_and_the_retry_applies(
        s3, index_root, featurizer, tmp_path, monkeypatch):
    # GIVEN a batch whose apply dies just before current.json moves (daemon or instance restart)
    live = LocalIndexStore(index_root).read_current()
    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    _batch(s3, [("gallery/new/a.png", "put")])

    def killed(self, version, *, expect=None):
        raise SystemExit("killed mid-batch")

    with monkeypatch.context() as m:
        m.setattr(LocalIndexStore, "set_current", killed)
        with pytest.raises(SystemExit):
            _apply(s3, index_root, featurizer, tmp_path)
    # THEN the previous version is still the live one, and the redelivered batch applies
    assert LocalIndexStore(index_root).read_current() == live
    report = _apply(s3, index_root, featurizer, tmp_path)
    assert report["changed"] and report["parent"] == live and report["added"] == 1


def test_the_new_version_is_warmed_after_a_batch(s3, index_root, featurizer, tmp_path, monkeypatch):
    # The ingest command's hook (issue 12): the new version's result cache, equal to the daemon.
    import cache_entries
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex
    from imagesearch.ops.cache_warm import warm_result_cache

    monkeypatch.delenv("IMAGESEARCH_MODE", raising=False)
    monkeypatch.delenv("IMAGESEARCH_BACKEND", raising=False)
    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    _batch(s3, [("gallery/new/a.png", "put")])
    cache = str(tmp_path / "cache")
    report = apply_batch(BATCH, bucket="gallery", index_root=index_root, s3=s3, config=_config(),
                         cache_dir=cache, featurizer=featurizer,
                         after_publish=lambda version: {"cache": warm_result_cache(
                             version, s3=s3, bucket="gallery", index_root=index_root, cache_dir=cache,
                             settings=settings.load())})
    warmed = report["cache"]
    assert warmed["ok"] and warmed["warmed"] and warmed["scope"] == "all"
    assert warmed["version"] == report["version"] and warmed["entries"] == report["count"]
    index = OpenIndex.open(index_root, featurizer=featurizer)
    digest = hashlib.sha256(noise_png(1)).hexdigest()
    key = cache_entries.entry_key(report["version"], digest)
    raw = s3.get_object(Bucket="gallery", Key=key)["Body"].read()
    entry = cache_entries.decode_entry(raw, report["version"], digest)
    assert entry["results"] == search_image_bytes(index, noise_png(1), 10)["results"]


def test_the_warm_up_is_skipped_when_the_daemon_answers_elsewhere(s3, monkeypatch):
    from imagesearch.ops.cache_warm import warm_result_cache

    monkeypatch.setenv("IMAGESEARCH_MODE", "lsh")
    answer = warm_result_cache("v", s3=s3, bucket="gallery", index_root="x", cache_dir="y",
                               settings=settings.load())
    assert answer["ok"] and not answer["warmed"] and "IMAGESEARCH_MODE" in answer["reason"]
def test_with_the_s3vectors_backend_the_new_version_is_written_to_the_vector_index(
        s3, index_root, featurizer, tmp_path):
    from imagesearch.s3vectors.backend import VectorIndexRef, read_state
    from imagesearch.s3vectors.sync import sync_vector_backend

    # GIVEN a vector index backend and a batch adding one image
    vectors = boto3.client("s3vectors", region_name="us-east-1")
    cfg = settings.load({"IMAGESEARCH_BACKEND": "s3vectors", "IMAGESEARCH_VECTOR_BUCKET": "vectors-bucket",
                         "IMAGESEARCH_VECTOR_INDEX": "images"})
    vectors.create_vector_bucket(vectorBucketName="vectors-bucket")
    s3.put_object(Bucket="gallery", Key="gallery/new/a.png", Body=noise_png(1))
    _batch(s3, [("gallery/new/a.png", "put")])
    # WHEN the batch is applied and its after-publish step syncs the vectors
    synced = {}
    report = apply_batch(BATCH, bucket="gallery", index_root=index_root, s3=s3, config=_config(),
                         cache_dir=str(tmp_path / "cache"), featurizer=featurizer,
                         after_publish=lambda version: synced.update(sync_vector_backend(
                             cfg, index_root, version, s3=s3, cache_dir=str(tmp_path / "cache"),
                             client=vectors)) or {})
    # THEN every indexed key is in the vector index, and its state names the new version
    assert synced["backend"] == "s3vectors" and synced["put"] == len(_keys(index_root))
    listed = vectors.list_vectors(vectorBucketName="vectors-bucket", indexName="images")["vectors"]
    assert {v["key"] for v in listed} == _keys(index_root)
    assert read_state(vectors, VectorIndexRef("vectors-bucket", "images")).version == report["version"]


def test_with_the_instance_backend_nothing_is_synced(s3, index_root, tmp_path):
    from imagesearch.s3vectors.sync import sync_vector_backend

    assert sync_vector_backend(settings.load({}), index_root, "v", s3=s3, cache_dir=None) == {
        "backend": "instance"}
