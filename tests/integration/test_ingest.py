"""The gallery keeps itself current: images put under gallery/ become searchable and listed; deleted ones go.

GIVEN a running local stack (its own: this test changes the gallery)
WHEN 20 new images (10 near-duplicate pairs) and one corrupt file are put through the local S3
THEN within 60 s each image is returned by a search for its twin and albums.json lists it, and
     the corrupt file is reported as skipped without blocking the others;
WHEN 5 of them are deleted
THEN within 60 s no search returns them, the album pages no longer list them and their copies are gone.
Names outside the key pattern are counted in the album's `skipped`, never listed nor copied; every
public image is a display copy without EXIF or XMP.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from devstack.ingest_probe import listed, near_duplicates, put_pairs, search, wait_searchable
from imagesearch.model.sample_photos import SERIAL, phone_jpeg
from PIL import Image

pytestmark = pytest.mark.integration

WITHIN_S = 60.0
ALBUM = "marble"


@pytest.fixture(scope="module")
def ingest_stack(stack_factory):
    stack = stack_factory("ingest")
    info = stack.start()
    yield info, stack
    assert stack.stop() == 0, stack.log_tail()


def _album_key(gallery_key: str) -> str:
    return "albums/" + gallery_key.removeprefix("gallery/")


def test_put_then_delete_through_the_bucket(ingest_stack):
    from devstack.s3server import client

    info, stack = ingest_stack
    s3 = client("s3", info["s3_endpoint"])
    bucket, url = info["gallery_bucket"], info["url"]
    corrupt = f"gallery/{ALBUM}/ing_corrupt.png"
    s3.put_object(Bucket=bucket, Key=corrupt, Body=b"\x89PNG\r\n\x1a\n not really a png")
    # Issue 24.1: names outside the key pattern are counted, never listed nor copied anywhere public.
    hostile = [f"gallery/{ALBUM}/.dotfile.png", f'gallery/{ALBUM}/aaa"onerror=alert(1)".png',
               f"gallery/{ALBUM}/with space.png", f"gallery/{ALBUM}/caf\u00e9.png",
               f"gallery/{ALBUM}/" + "n" * 900 + ".png"]
    for key in hostile:
        s3.put_object(Bucket=bucket, Key=key, Body=near_duplicates(1)[0][0])
    # A sideways phone photo with GPS, serial and XMP: its public copies carry none of it.
    phone = f"gallery/{ALBUM}/ing_phone.jpg"
    s3.put_object(Bucket=bucket, Key=phone, Body=phone_jpeg((1600, 1200), seed=7))
    probe = put_pairs(s3, bucket, ALBUM, near_duplicates(10))
    keys = sorted(probe.twins)
    assert len(keys) == 20

    found = wait_searchable(url, probe, keys, WITHIN_S)
    assert found == set(keys), f"not searchable within {WITHIN_S} s: {sorted(set(keys) - found)}"
    shown = listed(url)
    assert {_album_key(k) for k in keys} <= shown
    assert _album_key(corrupt) not in shown  # skipped by the index, so not offered on the page
    deadline = time.monotonic() + WITHIN_S
    while _album_key(phone) not in listed(url) and time.monotonic() < deadline:
        time.sleep(1.0)
    assert _album_key(phone) in listed(url)
    site = info["site_bucket"]
    public = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=site)
              for o in p.get("Contents", [])]
    assert not [k for k in public if any(h.split("/")[-1][:12] in k for h in hostile)]
    assert not [k for k in public if k.startswith("albums/")]
    (entry,) = [a for a in json.loads(s3.get_object(Bucket=site, Key="albums.json")["Body"].read())["albums"]
                if a["name"] == ALBUM]
    assert entry["skipped"] >= len(hostile) + 1  # the hostile names and the corrupt file
    for key in [k for k in public if k.startswith(("thumbs/", "previews/", "results/"))]:
        data = s3.get_object(Bucket=site, Key=key)["Body"].read()
        image = Image.open(io.BytesIO(data))
        assert not image.getexif() and "xmp" not in image.info and SERIAL.encode() not in data, key
    preview_key = f"previews/{ALBUM}/ing_phone.jpg"
    preview = Image.open(io.BytesIO(s3.get_object(Bucket=site, Key=preview_key)["Body"].read()))
    assert preview.height > preview.width  # orientation 6 applied

    # The corrupt file is in a batch report (the ingest function logs each one), marked bad_image.
    reports = [json.loads(line)["report"] for line in stack.log_path.read_text().splitlines()
               if line.startswith("{") and '"report"' in line]
    skipped = {s["key"]: s["reason"] for r in reports for s in r["skipped_files"]}
    assert skipped.get(corrupt) == "bad_image", skipped

    gone = keys[:10:2]  # five "a" images; their twins stay to search with
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in gone]})
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        returned = {k for key in gone if (r := search(url, probe.twins[key], k=10)) for k in r}
        if not returned & set(gone) and not {_album_key(k) for k in gone} & listed(url):
            break
        time.sleep(1.0)
    returned = {k for key in gone for k in (search(url, probe.twins[key], k=10) or [])}
    assert not returned & set(gone), f"still returned after {WITHIN_S} s: {sorted(returned & set(gone))}"
    assert not {_album_key(k) for k in gone} & listed(url)
    # AND the deleted images lost their thumbnails and previews
    deadline = time.monotonic() + WITHIN_S
    copies = [f"{prefix}/{k.removeprefix('gallery/')}" for k in gone for prefix in ("thumbs", "previews")]
    while time.monotonic() < deadline and any(_exists(s3, site, k) for k in copies):
        time.sleep(1.0)
    assert not [k for k in copies if _exists(s3, site, k)]


def _exists(s3, bucket: str, key: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0
