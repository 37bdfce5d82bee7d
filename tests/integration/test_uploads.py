"""Search with your own image on the running local stack, over real HTTP like the page.

The local S3 (moto in server mode) does not enforce a presigned POST's conditions (size range,
Content-Type, even the key: checked below); the function's own checks are what refuse a bad
upload here, and these tests prove they do. In AWS, S3 refuses such a POST first.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import pytest
from devstack.upload_client import post_file, request_upload, upload
from PIL import Image

pytestmark = pytest.mark.integration


def _search(api: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(api + "/search", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _png(seed: int = 0, size: int = 64) -> bytes:
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_the_form_names_the_gallery_bucket_under_uploads(local_stack):
    form = request_upload(local_stack["api"])
    assert form["url"] == f"{local_stack['s3_endpoint']}/{local_stack['gallery_bucket']}"
    assert form["fields"]["key"] == "uploads/" + form["upload_id"]
    assert form["max_bytes"] == 10 * 1024 * 1024 and form["expires_in"] == 300


@pytest.mark.parametrize("k", [3, 5])
def test_upload_a_real_image_and_search_by_it(local_stack, stack_s3, album_keys, k):
    # GIVEN a real image file (an album image's preview, fetched like a user's download)
    preview = album_keys[7].replace("albums/", "previews/", 1)
    with urllib.request.urlopen(local_stack["url"] + preview, timeout=30) as resp:
        data = resp.read()
    # WHEN it is uploaded with the returned form and searched by its id
    upload_id = upload(local_stack["api"], data, "image/png")
    status, answer = _search(local_stack["api"], {"upload": upload_id, "k": k})
    # THEN k results come back whose copies exist, and the query names the upload, not a URL
    assert status == 200, answer
    assert answer["query"] == {"upload": upload_id}
    assert len(answer["results"]) == k
    for result in answer["results"]:
        head = stack_s3.head_object(Bucket=local_stack["site_bucket"], Key=result["key"])
        assert head["ContentLength"] > 0
    # AND the upload itself is private: the site does not serve it
    assert stack_s3.head_object(Bucket=local_stack["gallery_bucket"], Key=f"uploads/{upload_id}")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(local_stack["url"] + f"uploads/{upload_id}", timeout=30)


def test_a_new_image_is_searched_too(local_stack):
    upload_id = upload(local_stack["api"], _png(seed=3), "image/png")
    status, answer = _search(local_stack["api"], {"upload": upload_id, "k": 4})
    assert status == 200, answer
    assert len(answer["results"]) == 4


def test_more_like_this_on_a_result(local_stack, album_keys):
    status, first = _search(local_stack["api"], {"key": album_keys[2], "k": 3})
    assert status == 200, first
    gallery_key = first["results"][0]["key"].removeprefix("results/")
    status, answer = _search(local_stack["api"], {"key": gallery_key, "k": 3})
    assert status == 200, answer
    # the query's preview is public (issue 22); the original stays private
    assert answer["query"] == {"key": gallery_key,
                               "url": local_stack["url"] + gallery_key.replace("gallery/", "previews/", 1)}
    assert gallery_key not in [r["key"].removeprefix("results/") for r in answer["results"]]


def test_a_text_file_is_refused(local_stack):
    # moto stores a text/plain POST although the form requires image/*: the function refuses it
    form = request_upload(local_stack["api"])
    assert post_file(form, b"just some text\n", "text/plain") == 204  # local S3 does not enforce
    status, answer = _search(local_stack["api"], {"upload": form["upload_id"], "k": 3})
    assert (status, answer["error"]["code"]) == (422, "bad_image")
    # declared as an image, the agent's decoder refuses it
    upload_id = upload(local_stack["api"], b"just some text\n", "image/png")
    status, answer = _search(local_stack["api"], {"upload": upload_id, "k": 3})
    assert (status, answer["error"]["code"]) == (422, "bad_image")


def test_an_oversize_file_is_refused(local_stack):
    form = request_upload(local_stack["api"])
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(form["max_bytes"])  # one limit's worth plus the signature
    assert post_file(form, too_big, "image/png") == 204  # local S3 ignores content-length-range
    status, answer = _search(local_stack["api"], {"upload": form["upload_id"], "k": 3})
    assert (status, answer["error"]["code"]) == (422, "too_large")
    assert str(form["max_bytes"]) in answer["error"]["message"]


def test_unknown_and_malformed_upload_ids(local_stack):
    status, answer = _search(local_stack["api"], {"upload": "f" * 32, "k": 3})
    assert (status, answer["error"]["code"]) == (404, "upload_not_found")
    status, answer = _search(local_stack["api"], {"upload": "../gallery/x", "k": 3})
    assert (status, answer["error"]["code"]) == (400, "bad_upload")


def test_local_s3_does_not_enforce_the_signed_key(local_stack, stack_s3):
    # Recorded so nobody relies on it: moto accepts a POST whose key differs from the signed one.
    form = request_upload(local_stack["api"])
    other = dict(form, fields={**form["fields"], "key": "uploads/" + "e" * 32})
    assert post_file(other, _png(), "image/png") == 204
    stack_s3.delete_object(Bucket=local_stack["gallery_bucket"], Key="uploads/" + "e" * 32)


def test_the_gallery_cors_allows_the_page_origin_only(local_stack):
    bucket_url = f"{local_stack['s3_endpoint']}/{local_stack['gallery_bucket']}"
    page_origin = local_stack["url"].rstrip("/")

    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(bucket_url, method="OPTIONS", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, resp.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as e:
            return e.code, None

    assert preflight(page_origin) == (200, page_origin)
    assert preflight("http://evil.example")[0] == 403
