"""Stale public copies: an image that leaves the index leaves results/, thumbs/, previews/ and its listing."""

from __future__ import annotations

import json
import shutil

import pytest

from publish.core import publish_all

SITE, GALLERY = "site-under-test", "gallery-under-test"


@pytest.fixture
def s3(s3_client, monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IMAGESEARCH_LSH_TABLES", "2")
    s3_client.create_bucket(Bucket=SITE)
    s3_client.create_bucket(Bucket=GALLERY)
    return s3_client


def _publish(s3, images, site_dir, tmp_path):
    return publish_all(s3, site_bucket=SITE, gallery_bucket=GALLERY, api_url="/api", site_dir=site_dir,
                       images_dir=images, weights="seed:0", agent=False, progress=False,
                       index_options={"size": 32, "work_dir": tmp_path / "work"})


def test_a_key_that_leaves_the_index_loses_its_public_copy(s3, tmp_path):
    from imagesearch.model.sample_data import generate

    # GIVEN a published collection whose matches were copied to results/ by searches
    images, site_dir = tmp_path / "images", tmp_path / "site"
    generate(str(images), count=8, seed=2, size=28)
    site_dir.mkdir()
    (site_dir / "index.html").write_text("<!doctype html>")
    _publish(s3, images, site_dir, tmp_path)
    albums = sorted(p.name for p in images.iterdir())
    leaving, staying = sorted((images / albums[0]).iterdir())[0], sorted((images / albums[1]).iterdir())[0]
    gone_key = f"results/gallery/{albums[0]}/{leaving.name}"
    kept_key = f"results/gallery/{albums[1]}/{staying.name}"
    for key in (gone_key, kept_key):
        s3.put_object(Bucket=SITE, Key=key, Body=b"copied match")
    # WHEN one image is removed from the collection and it is published again
    leaving.unlink()
    report = _publish(s3, images, site_dir, tmp_path)
    # THEN its public copies (result, thumbnail, preview) are deleted and the others stay
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=SITE).get("Contents", [])}
    assert gone_key not in listed and kept_key in listed
    for prefix in ("thumbs", "previews"):
        assert f"{prefix}/{albums[0]}/{leaving.name}" not in listed
        assert f"{prefix}/{albums[1]}/{staying.name}" in listed
    pages = [json.loads(s3.get_object(Bucket=SITE, Key=o["Key"])["Body"].read())
             for o in s3.list_objects_v2(Bucket=SITE, Prefix="listings/")["Contents"]]
    listed_keys = {img["key"] for page in pages for img in page["images"]}
    assert f"gallery/{albums[0]}/{leaving.name}" not in listed_keys
    assert f"gallery/{albums[1]}/{staying.name}" in listed_keys
    assert report.removed_results == 1
    # AND an unchanged publish deletes nothing
    shutil.rmtree(tmp_path / "work", ignore_errors=True)
    assert _publish(s3, images, site_dir, tmp_path).removed_results == 0
