"""Issue 23: after an ingest batch, the site's duplicates.json follows the new version."""

from __future__ import annotations

import dataclasses
import io
import json

import boto3
import pytest
from imagesearch import settings
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.model.sample_data import render
from imagesearch.ops import duplicates as ops_duplicates
from imagesearch.ops.build import build_index
from imagesearch.ops.duplicates import write_duplicates
from imagesearch.ops.ingest import apply_batch
from moto import mock_aws

BATCH = "ingest/" + "0" * 31 + "2.json"


def _config() -> BuildConfig:
    config = BuildConfig.from_settings(settings.load())
    return dataclasses.replace(config, lsh=LshBuildParams(tables=4), probes=4, threads=2)


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="gallery")
        client.create_bucket(Bucket="site")
        yield client


def _jpeg_copy_of_marble_0() -> bytes:
    buf = io.BytesIO()
    render("marble", 0, size=28).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_a_batch_adding_a_copy_rewrites_duplicates_json(s3, albums, featurizer, tmp_path):
    # GIVEN an index of the collection, its images in the gallery bucket too
    root, cache = str(tmp_path / "idx"), str(tmp_path / "cache")
    build_index(albums, root, featurizer=featurizer, config=_config())
    with open(f"{albums}/marble/marble_00000.png", "rb") as f:
        s3.put_object(Bucket="gallery", Key="gallery/marble/marble_00000.png", Body=f.read())
    # WHEN a batch adds a re-saved copy of marble_00000
    s3.put_object(Bucket="gallery", Key="gallery/marble/sent.jpg", Body=_jpeg_copy_of_marble_0())
    s3.put_object(Bucket="gallery", Key=BATCH, Body=json.dumps(
        {"bucket": "gallery", "changes": [{"key": "gallery/marble/sent.jpg", "op": "put"}]}).encode())
    report = apply_batch(BATCH, bucket="gallery", index_root=root, s3=s3, config=_config(), cache_dir=cache,
                         featurizer=featurizer, after_publish=lambda version: {"duplicates": write_duplicates(
                             version, s3=s3, gallery_bucket="gallery", site_bucket="site", index_root=root,
                             cache_dir=cache, max_bytes=10_000_000)})
    # THEN duplicates.json at the site root names the new version and groups the copy with its original
    assert report["duplicates"]["ok"] and report["duplicates"]["written"]
    obj = s3.get_object(Bucket="site", Key="duplicates.json")
    assert obj["ContentType"] == "application/json" and obj["CacheControl"] == "no-cache"
    doc = json.loads(obj["Body"].read())
    assert doc["version"] == report["version"]
    group = next(g for g in doc["groups"] if "gallery/marble/sent.jpg" in g["images"])
    assert "gallery/marble/marble_00000.png" in group["images"]
    # pixels and bytes come from the gallery bucket (the original's bytes were put there)
    sent = next(m for m in group["members"] if m["key"] == "gallery/marble/sent.jpg")
    assert (sent["width"], sent["height"], sent["bytes"]) == (28, 28, len(_jpeg_copy_of_marble_0()))


def test_without_a_site_bucket_nothing_is_written_and_the_batch_does_not_fail(s3):
    answer = write_duplicates("v", s3=s3, gallery_bucket="gallery", site_bucket="", index_root="x",
                              cache_dir="y", max_bytes=1)
    assert answer == {"ok": False, "written": False, "reason": "no SITE_BUCKET in the instance's settings"}


def test_a_missing_index_is_reported_not_raised(s3, tmp_path):
    answer = write_duplicates("20260101T000000Z-abcdef", s3=s3, gallery_bucket="gallery", site_bucket="site",
                              index_root=str(tmp_path / "none"), cache_dir=str(tmp_path / "c"), max_bytes=1)
    assert not answer["ok"] and answer["reason"].startswith("index_unavailable")


def test_a_large_index_leaves_duplicates_json_to_publish(s3, albums, featurizer, tmp_path, monkeypatch):
    root = str(tmp_path / "idx")
    report = build_index(albums, root, featurizer=featurizer, config=_config())
    monkeypatch.setattr(ops_duplicates, "DUPLICATES_MAX", 10)
    answer = write_duplicates(report["version"], s3=s3, gallery_bucket="gallery", site_bucket="site",
                              index_root=root, cache_dir=str(tmp_path / "c"), max_bytes=1)
    assert answer["ok"] and not answer["written"] and "publish" in answer["reason"]
    assert "Contents" not in s3.list_objects_v2(Bucket="site")
