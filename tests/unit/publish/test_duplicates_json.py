"""Publish writes duplicates.json for the live index beside albums.json (issue 23), once per version."""

from __future__ import annotations

import dataclasses
import json

import pytest
from moto import mock_aws

from publish.duplicates import publish_duplicates
from publish.uploader import Counts

GALLERY, SITE = "gallery-under-test", "site-under-test"


@pytest.fixture
def published(monkeypatch, tmp_path):
    """moto S3 with a collection (and a re-saved copy of one image) indexed at s3://<gallery>/index."""
    from imagesearch import settings
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.index.lsh import LshBuildParams
    from imagesearch.model.features import Featurizer
    from imagesearch.model.sample_data import generate
    from imagesearch.ops.build import build_index

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    images = tmp_path / "albums"
    generate(str(images), count=10, seed=3, copies=1)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=GALLERY)
        s3.create_bucket(Bucket=SITE)
        config = dataclasses.replace(BuildConfig.from_settings(settings.load()),
                                     lsh=LshBuildParams(tables=4, bits=3), probes=4, threads=2)
        featurizer = Featurizer.load("seed:0", size=32, batch_size=8)
        build_index(str(images), f"s3://{GALLERY}/index", s3=s3, config=config, featurizer=featurizer,
                    cache_dir=str(tmp_path / "b"))
        yield s3, images


def test_publish_writes_the_live_versions_groups_then_keeps_them(published, tmp_path):
    s3, images = published
    counts, doc = publish_duplicates(s3, SITE, GALLERY, images, work_dir=tmp_path / "w")
    assert counts == Counts(1, 0)
    stored = json.loads(s3.get_object(Bucket=SITE, Key="duplicates.json")["Body"].read())
    assert stored == doc
    live = json.loads(s3.get_object(Bucket=GALLERY, Key="index/current.json")["Body"].read())["version"]
    assert doc["version"] == live and isinstance(doc["threshold"], float)
    copy = "gallery/marble/marble_00000_copy.jpg"  # the first album's copy (sample_data copies=1)
    original = "gallery/marble/marble_00000.png"
    assert any(copy in g["images"] and original in g["images"] for g in doc["groups"])
    for group in doc["groups"]:
        assert group["keep"] in group["images"] and group["images"] == sorted(group["images"])
    # a second publish of the same version finds it written and leaves it
    again, same = publish_duplicates(s3, SITE, GALLERY, images, work_dir=tmp_path / "w")
    assert again == Counts(0, 1) and same == doc


def test_without_an_index_nothing_is_written(monkeypatch, tmp_path):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=GALLERY)
        s3.create_bucket(Bucket=SITE)
        assert publish_duplicates(s3, SITE, GALLERY, tmp_path, work_dir=tmp_path / "w") == (Counts(), None)
        assert "Contents" not in s3.list_objects_v2(Bucket=SITE)
