"""`imagesearch ingest` keeps the site in line: display copies and album pages of what the index accepted.

Issue 24.1: objects under gallery/<album>/ that the key pattern or the decoder refuses (a dot-file,
a 900-character name, a quote-and-attribute name, a space, a non-ASCII name, a 20000x20000 PNG bomb,
a non-image named .jpg) are never listed nor copied to any public prefix; they count in the album's
`skipped` and `imagesearch index info` names them.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import struct
import zlib

import boto3
import pytest
from imagesearch import settings
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.model.sample_photos import SERIAL, phone_jpeg
from imagesearch.ops.build import build_index
from imagesearch.ops.ingest import apply_batch
from imagesearch.ops.site_listing import refresh_from_live
from moto import mock_aws
from PIL import Image

from .conftest import noise_png

BATCH = "ingest/" + "0" * 31 + "2.json"
SITE = "site"
GOOD = ["gallery/new/a.png", "gallery/new/b.png", "gallery/new/phone.jpg"]
HOSTILE = {
    "gallery/new/.hidden.png": "bad_key",
    "gallery/new/" + "x" * 900 + ".png": "bad_key",
    'gallery/new/aaa"onerror=alert(1)".png': "bad_key",
    "gallery/new/with space.png": "bad_key",
    "gallery/new/caf\u00e9.png": "bad_key",
    "gallery/new/bomb.png": "bad_image",
    "gallery/new/fake.jpg": "bad_image",
}


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


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
        client.create_bucket(Bucket=SITE)
        yield client


@pytest.fixture
def index_root(albums, tmp_path, featurizer) -> str:
    root = str(tmp_path / "idx")
    build_index(albums, root, featurizer=featurizer, config=_config())
    return root


def _apply(s3, root, featurizer, tmp_path, changes):
    body = {"bucket": "gallery", "changes": [{"key": k, "op": op, "sequencer": "01"} for k, op in changes]}
    s3.put_object(Bucket="gallery", Key=BATCH, Body=json.dumps(body).encode())
    config = _config()
    return apply_batch(BATCH, bucket="gallery", index_root=root, s3=s3, config=config,
                       cache_dir=str(tmp_path / "cache"), featurizer=featurizer,
                       after_apply=lambda touched: refresh_from_live(
                           s3, site_bucket=SITE, gallery_bucket="gallery", index_root=root, touched=touched,
                           max_bytes=config.limits.max_bytes))


def _site(s3) -> dict[str, bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=SITE).get("Contents", [])]
    return {k: s3.get_object(Bucket=SITE, Key=k)["Body"].read() for k in keys}


def test_refused_files_are_counted_never_listed_nor_copied(s3, index_root, featurizer, tmp_path, capsys):
    # GIVEN three good images (one a sideways phone photo with GPS) and seven hostile or refused files
    bodies = {GOOD[0]: noise_png(1), GOOD[1]: noise_png(2), GOOD[2]: phone_jpeg((1600, 1200), seed=5)}
    for key in HOSTILE:
        bodies[key] = noise_png(3)
    bodies["gallery/new/bomb.png"] = bomb_png()
    bodies["gallery/new/fake.jpg"] = b"%PDF-1.4 not an image, whatever the name says"
    for key, body in bodies.items():
        s3.put_object(Bucket="gallery", Key=key, Body=body)
    # WHEN one batch names them all
    report = _apply(s3, index_root, featurizer, tmp_path, [(k, "put") for k in bodies])
    # THEN the album lists the three, counts the seven, and nothing else reached the site
    site = _site(s3)
    (entry,) = [a for a in json.loads(site["albums.json"])["albums"] if a["name"] == "new"]
    assert entry == {"name": "new", "count": 3, "skipped": 7, "cover": GOOD[0], "pages": 1, "page_size": 100}
    page = json.loads(site["listings/new/1.json"])
    assert [i["key"] for i in page["images"]] == sorted(GOOD)
    phone = page["images"][2]
    assert (phone["width"], phone["height"], phone["bytes"]) == (1200, 1600, len(bodies[GOOD[2]]))
    images = {k for k in site if k.startswith(("thumbs/", "previews/"))}
    assert images == {f"{p}/{k.removeprefix('gallery/')}" for p in ("thumbs", "previews") for k in GOOD}
    text = b"".join(site.values()).decode("latin-1")
    for needle in ("onerror", "xxxxxxxxxx", "hidden", "with space", "caf", "bomb", "fake"):
        assert needle not in text
    # AND every copy is a JPEG without EXIF or XMP; the phone photo's preview is upright
    for key in images:
        im = Image.open(io.BytesIO(site[key]))
        assert im.format == "JPEG" and not im.getexif() and "xmp" not in im.info
        assert SERIAL.encode() not in site[key]
    preview = Image.open(io.BytesIO(site["previews/new/phone.jpg"]))
    assert preview.size == (960, 1280)
    # AND the report says what the site got; `index info` names every refused file with its reason
    assert report["site"]["copied"] == 3 and report["site"]["skipped"] == 7
    from imagesearch.cli.index import run_index_info

    run_index_info(argparse.Namespace(index=index_root, version=None), settings.load())
    info = json.loads(capsys.readouterr().out)
    assert {s["key"]: s["reason"] for s in info["skipped_files"]} == HOSTILE and info["skipped"] == 7


def test_pages_follow_deletions_and_a_repaired_file(s3, index_root, featurizer, tmp_path):
    # GIVEN an album with two good images and a non-image
    for key, body in {GOOD[0]: noise_png(1), GOOD[1]: noise_png(2), "gallery/new/fake.jpg": b"nope"}.items():
        s3.put_object(Bucket="gallery", Key=key, Body=body)
    _apply(s3, index_root, featurizer, tmp_path, [(GOOD[0], "put"), (GOOD[1], "put"),
                                                  ("gallery/new/fake.jpg", "put")])
    # WHEN one image is deleted and the non-image is replaced by a real image
    s3.delete_object(Bucket="gallery", Key=GOOD[1])
    s3.put_object(Bucket="gallery", Key="gallery/new/fake.jpg", Body=phone_jpeg((640, 480), seed=9))
    report = _apply(s3, index_root, featurizer, tmp_path, [(GOOD[1], "delete"),
                                                           ("gallery/new/fake.jpg", "put")])
    # THEN the page lists the remaining image and the repaired one, and nothing is skipped any more
    site = _site(s3)
    (entry,) = [a for a in json.loads(site["albums.json"])["albums"] if a["name"] == "new"]
    assert (entry["count"], entry["skipped"]) == (2, 0)
    assert [i["key"] for i in json.loads(site["listings/new/1.json"])["images"]] == [
        GOOD[0], "gallery/new/fake.jpg"]
    assert report["site"]["albums"] == ["new"]
    # AND the other albums' pages were not touched by this batch (only the affected album is rewritten)
    assert not [k for k in site if k.startswith("listings/") and not k.startswith("listings/new/")]
