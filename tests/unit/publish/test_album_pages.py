"""site_albums.pages: the paged listing's shape, its incremental writes and albums.json merges (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from site_albums.pages import (
    album_pages,
    merge_albums_json,
    page_key,
    read_album_images,
    skipped_by_album,
    write_album,
)

SITE = "site"


def _rows(n: int, album: str = "big") -> list[dict]:
    return [{"key": f"gallery/{album}/img{i:05d}.jpg", "sha256": f"{i:064x}", "width": 4, "height": 3,
             "bytes": 10 + i} for i in range(n)]


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SITE)
        yield client


def test_pages_hold_100_images_in_key_order():
    pages = album_pages("big", reversed(_rows(250)))
    assert [(p["page"], p["pages"], p["count"], len(p["images"])) for p in pages] == [
        (1, 3, 250, 100), (2, 3, 250, 100), (3, 3, 250, 50)]
    assert pages[0]["images"][0]["key"] == "gallery/big/img00000.jpg"
    assert set(pages[0]["images"][0]) == {"key", "sha256", "width", "height", "bytes"}


@pytest.mark.parametrize("key", ["gallery/big/a b.jpg", 'gallery/big/aaa"onerror=alert(1)".png',
                                 "gallery/other/x.jpg", "gallery/big/.x", "albums/big/x.jpg"])
def test_a_key_outside_the_album_or_the_pattern_is_never_paged(key):
    with pytest.raises(ValueError):
        album_pages("big", [{"key": key, "sha256": "", "width": 1, "height": 1, "bytes": 1}])


def test_a_replaced_image_rewrites_only_its_page(s3):
    # GIVEN a 250-image album written once
    entry = write_album(s3, SITE, "big", _rows(250), skipped=2)
    assert entry == {"name": "big", "count": 250, "skipped": 2, "cover": "gallery/big/img00000.jpg",
                     "pages": 3, "page_size": 100}
    listed, old = read_album_images(s3, SITE, "big")
    assert len(listed) == 250 and len(old) == 3
    etags = {p: s3.head_object(Bucket=SITE, Key=page_key("big", p))["ETag"] for p in (1, 2)}
    puts: list[str] = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: puts.append(request.url))
    # WHEN one image on the last page gets new content (every page carries the album's count and
    # page count, so an addition rewrites them all; a replacement does not)
    rows = _rows(250)
    rows[240] = {**rows[240], "sha256": "f" * 64, "bytes": 99}
    write_album(s3, SITE, "big", rows, skipped=2, old=old)
    # THEN only page 3 is written; pages 1 and 2 are unchanged
    assert len(puts) == 1 and puts[0].endswith("/listings/big/3.json")
    assert {p: s3.head_object(Bucket=SITE, Key=page_key("big", p))["ETag"] for p in (1, 2)} == etags


def test_a_shrinking_album_loses_its_extra_pages_and_an_empty_one_all(s3):
    write_album(s3, SITE, "big", _rows(250), skipped=0)
    _, old = read_album_images(s3, SITE, "big")
    write_album(s3, SITE, "big", _rows(120), skipped=0, old=old)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=SITE)["Contents"]}
    assert keys == {"listings/big/1.json", "listings/big/2.json"}
    _, old = read_album_images(s3, SITE, "big")
    assert write_album(s3, SITE, "big", [], skipped=0, old=old) is None
    assert s3.list_objects_v2(Bucket=SITE)["KeyCount"] == 0
    # an album of skipped files only still shows, with no cover
    assert write_album(s3, SITE, "bad", [], skipped=3) == {
        "name": "bad", "count": 0, "skipped": 3, "cover": None, "pages": 0, "page_size": 100}


def test_albums_json_merges_albums_and_retries_a_concurrent_write(s3):
    merge_albums_json(s3, SITE, {"a": {"name": "a", "count": 1, "pages": 1}}, index={"version": "v1"})
    # a writer that changes albums.json between our read and our write: the If-Match put fails once
    raced = []

    def race(params, **_):
        if params.get("Key") == "albums.json" and not raced:
            raced.append(True)
            s3.put_object(Bucket=SITE, Key="albums.json", Body=json.dumps(
                {"albums": [{"name": "a", "count": 1, "pages": 1}, {"name": "c", "count": 5, "pages": 1}],
                 "index": {"version": "v1"}}).encode())

    s3.meta.events.register("before-parameter-build.s3.PutObject", race)
    doc = merge_albums_json(s3, SITE, {"b": {"name": "b", "count": 2, "pages": 1}, "a": None})
    assert [a["name"] for a in doc["albums"]] == ["b", "c"] and doc["index"] == {"version": "v1"}
    stored = json.loads(s3.get_object(Bucket=SITE, Key="albums.json")["Body"].read())
    assert stored == doc


def test_skipped_files_count_for_the_album_their_path_names():
    counts = skipped_by_album([{"key": "gallery/a/x y.png"}, {"key": "gallery/a/" + "n" * 900},
                               {"key": "gallery/b/bomb.png"}, {"key": "gallery/x.png"},
                               {"key": "gallery/b c/x.png"}, {"key": "/tmp/local/path.png"}])
    assert counts == {"a": 2, "b": 1}
