"""Display copies and the paged album listing at publish (issue 22, items 2, 3 and 7; issue 24.1).

Phone-like photos (8 megapixels, EXIF orientation 6, GPS, serial, capture time, XMP; a HEIC copy)
are published through moto; every public object is read back with Pillow: no EXIF, no XMP, no GPS,
upright, within its size. What the index refused is counted, never listed nor copied.
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from imagesearch.errors import SearchError
from imagesearch.model.display import PREVIEW_SIZE, THUMB_SIZE, make_display_copies
from imagesearch.model.sample_photos import QUADRANTS, SERIAL, phone_heic, phone_jpeg
from moto import mock_aws
from PIL import Image

from publish.core import publish_all

SITE, GALLERY = "site-under-test", "gallery-under-test"
# The page's own files and albums.json are not images; every other prefix is checked.
SITE_FILES = {"index.html", "config.js", "albums.json"}


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header claims width x height pixels (the data is a few bytes): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def assert_clean_upright_copy(data: bytes, long_side: int, *, sideways_source: bool = True) -> None:
    """A display copy: JPEG, no EXIF/XMP/GPS, within long_side, upright (orientation 6 applied)."""
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert max(im.size) <= long_side
    assert not im.getexif(), dict(im.getexif())
    assert "exif" not in im.info and "xmp" not in im.info and "XML:com.adobe.xmp" not in im.info
    assert SERIAL.encode() not in data and b"PrivateTown" not in data and b"GPS" not in data
    if sideways_source:
        assert im.height > im.width  # the 4:3 landscape stored pixels, shown as portrait
        rgb = im.convert("RGB")
        # Orientation 6 shows the stored bottom-left at the top left and the stored top-left at the top right.
        near = lambda a, b: all(abs(x - y) < 40 for x, y in zip(a, b, strict=True))  # noqa: E731
        assert near(rgb.getpixel((3, 3)), QUADRANTS["bottom_left"])
        assert near(rgb.getpixel((rgb.width - 4, 3)), QUADRANTS["top_left"])


@pytest.mark.parametrize("kind", ["jpeg", "heic"])
def test_display_copies_are_upright_small_and_carry_no_private_metadata(kind):
    pytest.importorskip("pillow_heif") if kind == "heic" else None
    # GIVEN a sideways phone photo with GPS, serial, capture time and XMP (HEIC smaller: encoding is slow)
    data = phone_jpeg() if kind == "jpeg" else phone_heic((2016, 1512))
    # WHEN its display copies are made
    made = make_display_copies(data)
    # THEN both are upright JPEGs within their sizes without any of it; the size is the upright original's
    assert_clean_upright_copy(made.copies["thumbs"], THUMB_SIZE)
    assert_clean_upright_copy(made.copies["previews"], PREVIEW_SIZE)
    assert made.height > made.width


def test_a_large_jpeg_is_decoded_at_reduced_scale(monkeypatch):
    from imagesearch.model.display import open_oriented

    drafts = []
    from PIL.JpegImagePlugin import JpegImageFile

    real_draft = JpegImageFile.draft
    monkeypatch.setattr(JpegImageFile, "draft",
                        lambda im, mode, size: drafts.append(size) or real_draft(im, mode, size))
    # 3264 x 2448 stored sideways: decoded at a DCT scale, then resized to the long side asked, upright
    assert open_oriented(phone_jpeg(), max_side=PREVIEW_SIZE).size == (960, 1280)
    assert open_oriented(phone_jpeg(), max_side=THUMB_SIZE).size == (192, 256)
    assert len(drafts) == 2


def test_an_icc_profile_stays_and_nothing_else():
    profile = b"\x00\x00\x02\x0cfake-icc-profile-bytes" + b"\x00" * 64
    out = io.BytesIO()
    Image.new("RGB", (600, 400), (10, 120, 200)).save(out, "JPEG", icc_profile=profile, xmp=b"<x:xmpmeta/>")
    thumb = Image.open(io.BytesIO(make_display_copies(out.getvalue()).copies["thumbs"]))
    assert thumb.info.get("icc_profile") == profile and "xmp" not in thumb.info


@pytest.mark.parametrize("data", [b"", b"not an image at all", bomb_png()])
def test_what_cannot_be_decoded_is_a_clear_bad_image(data):
    with pytest.raises(SearchError) as caught:
        make_display_copies(data, max_pixels=50_000_000)
    assert caught.value.code == "bad_image"


@pytest.fixture
def s3(monkeypatch, tmp_path):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("IMAGESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IMAGESEARCH_LSH_TABLES", "2")
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SITE)
        client.create_bucket(Bucket=GALLERY)
        yield client


def _publish(s3, images, tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir(exist_ok=True)
    (site_dir / "index.html").write_text("<!doctype html>")
    return publish_all(s3, site_bucket=SITE, gallery_bucket=GALLERY, api_url="/api", site_dir=site_dir,
                       images_dir=images, weights="seed:0", agent=False, progress=False, cache_warm="off",
                       index_options={"size": 32, "work_dir": tmp_path / "work"})


def _site(s3) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=SITE)
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    return {k: s3.get_object(Bucket=SITE, Key=k)["Body"].read() for k in keys}


def test_publish_makes_clean_display_copies_and_pages_of_what_the_index_accepted(s3, tmp_path):
    # GIVEN phone photos in two albums, a HEIC copy, a non-image named .jpg and a PNG bomb, and an old
    # byte copy of an original under the retired albums/ prefix
    images = tmp_path / "images"
    (images / "trip").mkdir(parents=True)
    (images / "home").mkdir()
    (images / "trip" / "IMG_0001.jpg").write_bytes(phone_jpeg(seed=1))
    (images / "trip" / "IMG_0002.jpg").write_bytes(phone_jpeg(seed=2))
    (images / "home" / "IMG_0003.jpg").write_bytes(phone_jpeg(seed=3))
    (images / "home" / "notes.jpg").write_bytes(b"%PDF-1.4 this is not an image")
    (images / "home" / "bomb.png").write_bytes(bomb_png())
    if _has_heif():
        (images / "trip" / "IMG_0004.heic").write_bytes(phone_heic((2016, 1512), seed=4))
    s3.put_object(Bucket=SITE, Key="albums/trip/IMG_0001.jpg", Body=phone_jpeg(seed=1))
    # WHEN the collection is published
    _publish(s3, images, tmp_path)
    site = _site(s3)
    # THEN albums.json is small: per album its count, skipped files, cover and pages, no image lists
    doc = json.loads(site["albums.json"])
    by_name = {a["name"]: a for a in doc["albums"]}
    assert set(by_name["home"]) == {"name", "count", "skipped", "cover", "pages", "page_size"}
    assert by_name["home"] == {"name": "home", "count": 1, "skipped": 2, "cover": "gallery/home/IMG_0003.jpg",
                               "pages": 1, "page_size": 100}
    trip = by_name["trip"]
    assert trip["count"] + trip["skipped"] == (3 if _has_heif() else 2) and trip["count"] >= 2
    assert doc["index"]["count"] == trip["count"] + 1
    # AND each album's page lists its indexed images with hash, upright size and bytes
    page = json.loads(site["listings/home/1.json"])
    assert page["album"] == "home" and page["page"] == 1 and page["pages"] == 1 and page["count"] == 1
    (row,) = page["images"]
    original = (images / "home" / "IMG_0003.jpg").read_bytes()
    assert row["key"] == "gallery/home/IMG_0003.jpg" and (row["width"], row["height"]) == (2448, 3264)
    assert row["bytes"] == len(original) and len(row["sha256"]) == 64
    # AND no original is public any more; the refused files are nowhere on the site
    assert not [k for k in site if k.startswith("albums/")]
    assert not [k for k in site if "notes" in k or "bomb" in k]
    # AND every image object on the site is a clean, upright display copy
    public = [k for k in site
              if k not in SITE_FILES and k != "duplicates.json" and not k.startswith("listings/")]
    assert {k.split("/", 1)[0] for k in public} == {"thumbs", "previews"}
    for key in public:
        assert_clean_upright_copy(site[key], THUMB_SIZE if key.startswith("thumbs/") else PREVIEW_SIZE)
        head = s3.head_object(Bucket=SITE, Key=key)
        assert head["ContentType"] == "image/jpeg" and head["CacheControl"].startswith("public")
    listed = {img["key"] for k, v in site.items() if k.startswith("listings/")
              for img in json.loads(v)["images"]}
    assert {k.split("/", 1)[1] for k in public} == {k.removeprefix("gallery/") for k in listed}


def test_a_second_publish_makes_no_copy_again_and_pages_follow_a_large_album(s3, tmp_path, monkeypatch):
    import site_albums.pages as pages

    # GIVEN an album of 5 small images published with pages of 2
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    images = tmp_path / "images"
    (images / "big").mkdir(parents=True)
    for i in range(5):
        (images / "big" / f"p{i}.jpg").write_bytes(phone_jpeg((320, 240), seed=i))
    first = _publish(s3, images, tmp_path)
    # THEN it has three pages, 2 + 2 + 1, in key order
    site = _site(s3)
    docs = [json.loads(site[f"listings/big/{p}.json"]) for p in (1, 2, 3)]
    assert [len(d["images"]) for d in docs] == [2, 2, 1] and {d["pages"] for d in docs} == {3}
    assert [i["key"] for d in docs for i in d["images"]] == [f"gallery/big/p{i}.jpg" for i in range(5)]
    assert json.loads(site["albums.json"])["albums"][0]["pages"] == 3
    assert first.steps["albums"].uploaded == 5
    # WHEN two images leave and it is published again
    for i in (3, 4):
        (images / "big" / f"p{i}.jpg").unlink()
    again = _publish(s3, images, tmp_path)
    # THEN no copy is made again, the third page is gone, and the leaving images lost their copies
    assert again.steps["albums"].uploaded == 0 and again.steps["albums"].skipped == 3
    site = _site(s3)
    assert "listings/big/3.json" not in site
    assert "thumbs/big/p4.jpg" not in site and "previews/big/p3.jpg" not in site
    assert json.loads(site["listings/big/1.json"])["pages"] == 2


def _has_heif() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True
