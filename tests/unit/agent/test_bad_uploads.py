"""Uploads and "more like this" through the real daemon: every bad upload gets its code, nothing breaks.

The daemon reads album images from the site bucket and gallery images and uploads from the gallery
bucket (docs/contracts.md). A stream of good searches runs throughout and must all succeed.
"""

from __future__ import annotations

import io
import threading

import boto3
import numpy as np
import pytest
from imagesearch.agent.client import run
from imagesearch.agent.daemon import Daemon, DaemonConfig
from imagesearch.agent.server import DaemonServer
from imagesearch.model import sample_data
from imagesearch.ops import build
from PIL import Image

SITE = "site-bucket"
GALLERY = "gallery-bucket"
MAX_BYTES = 64 * 1024


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _bomb() -> bytes:
    """A PNG of a few KB that decodes to 12,000 x 12,000 pixels (144 megapixels)."""
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")
    return buf.getvalue()


def _search(helpers, path: str, bucket: str, key: str, k: int = 3) -> dict:
    return helpers.ask(path, {"op": "search", "bucket": bucket, "key": key, "k": k}, timeout=60)


def _upload_id(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("uploads-engine")
    images = root / "images"
    sample_data.generate(str(images), count=20, seed=0, size=28)
    build.build_index(str(images), str(root / "index"), weights="seed:0", size=32,
                      cache_dir=str(root / "cache"))
    files = {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(images.rglob("*.png"))}
    return {"index": str(root / "index"), "files": files}


NOISE = np.random.default_rng(0).integers(0, 255, (160, 160, 3), np.uint8)
GOOD_NEW = sample_data.render("marble", 700, seed=0, size=28)
BAD_UPLOADS = {
    # case: (bytes, expected code)
    "text": (b"hello, I am a text file\n" * 20, "bad_image"),
    "pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
            "bad_image"),
    "truncated png": (_png(GOOD_NEW)[: len(_png(GOOD_NEW)) // 2], "bad_image"),
    "truncated jpeg": (_jpeg(GOOD_NEW)[: len(_jpeg(GOOD_NEW)) // 2], "bad_image"),
    "decompression bomb": (_bomb(), "bad_image"),
    "over the limit": (_png(Image.fromarray(NOISE)), "too_large"),  # noise does not compress
}


@pytest.fixture
def daemon(aws, built, sock_dir, tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (SITE, GALLERY):
        s3.create_bucket(Bucket=bucket)
    for name, data in built["files"].items():
        s3.put_object(Bucket=SITE, Key=f"albums/{name}", Body=data)
        s3.put_object(Bucket=GALLERY, Key=f"gallery/{name}", Body=data)
    for n, (data, _) in enumerate(BAD_UPLOADS.values()):
        s3.put_object(Bucket=GALLERY, Key=f"uploads/{_upload_id(n)}", Body=data, ContentType="image/png")
    s3.put_object(Bucket=GALLERY, Key=f"uploads/{_upload_id(99)}", Body=_png(GOOD_NEW),
                  ContentType="image/png")
    cfg = DaemonConfig(index_root=built["index"], cache_dir=str(tmp_path / "cache"),
                       allowed_buckets=frozenset({SITE, GALLERY}), max_image_bytes=MAX_BYTES)
    d = Daemon(cfg, s3=s3)
    assert d.reload("startup")["ok"]
    path = f"{sock_dir}/u.sock"
    server = DaemonServer(d, path).start()
    yield d, path
    server.close()


def test_the_oversize_case_is_over_the_limit():
    assert len(BAD_UPLOADS["over the limit"][0]) > MAX_BYTES
    assert len(BAD_UPLOADS["decompression bomb"][0]) < MAX_BYTES  # small file, huge image


def test_every_bad_upload_gets_its_code_while_others_keep_being_served(daemon, helpers, built):
    d, path = daemon
    album_key = "albums/" + sorted(built["files"])[0]
    stop = threading.Event()
    good: list[dict] = []

    def keep_searching() -> None:
        while not stop.is_set():
            good.append(_search(helpers, path, SITE, album_key))

    # GIVEN a client searching an album image without pause
    thread = threading.Thread(target=keep_searching)
    thread.start()
    try:
        # WHEN every bad upload is searched, each twice
        answers = {}
        for _ in range(2):
            for n, case in enumerate(BAD_UPLOADS):
                answers[case] = _search(helpers, path, GALLERY, f"uploads/{_upload_id(n)}")
        unknown = _search(helpers, path, GALLERY, f"uploads/{_upload_id(12345)}")
        wrong_form = _search(helpers, path, GALLERY, "uploads/not-an-id")
    finally:
        stop.set()
        thread.join(60)

    # THEN each has its code, and the daemon answered every good search and is healthy
    for case, (_, code) in BAD_UPLOADS.items():
        assert answers[case]["ok"] is False and answers[case]["error"]["code"] == code, case
    assert unknown["error"]["code"] == "not_found"
    assert wrong_form["error"]["code"] == "bad_request"
    assert good and all(a["ok"] for a in good)
    assert helpers.ask(path, {"op": "health"})["ok"]
    after = _search(helpers, path, GALLERY, f"uploads/{_upload_id(99)}")
    assert after["ok"] and len(after["results"]) == 3


def test_more_like_this_reads_the_gallery_image_and_never_returns_itself(daemon, helpers, built):
    _, path = daemon
    name = sorted(built["files"])[3]
    answer = _search(helpers, path, GALLERY, f"gallery/{name}", k=5)
    assert answer["ok"] and answer["indexed"] is True  # the gallery image's stored vector
    keys = [r["key"] for r in answer["results"]]
    assert len(keys) == 5 and f"gallery/{name}" not in keys


def test_thin_client_passes_an_upload_key_to_the_daemon(daemon, tmp_path):
    _, path = daemon
    env = {"SSM_bucket": GALLERY, "SSM_key": f"uploads/{_upload_id(99)}", "SSM_k": "4"}
    answer, code = run(["--socket", path, "--timeout", "60"], environ=env)
    assert code == 0 and answer["ok"] and answer["path"] == "warm" and len(answer["results"]) == 4
