"""Search with your own image in headless chromium: pick, drop, paste, errors, and "more like this"."""

from __future__ import annotations

import base64
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def album_png(stack) -> bytes:
    """A real image file: the first album's cover preview, as a user would have downloaded it."""
    import json

    with urllib.request.urlopen(stack["url"] + "albums.json", timeout=30) as resp:
        cover = json.load(resp)["albums"][0]["cover"]  # a gallery key; its preview is public
    with urllib.request.urlopen(stack["url"] + cover.replace("gallery/", "previews/", 1), timeout=30) as resp:
        return resp.read()


def open_upload(page, stack) -> None:
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    page.click("text=Search with your own image")
    page.wait_for_selector("#upload-drop", timeout=TIMEOUT_MS)
    assert page.url.endswith("#/upload")


def wait_for_results(page, k: int) -> None:
    # The count is waited for, not read once: a view that is still clearing or drawing shows fewer.
    page.wait_for_function(f"() => document.querySelectorAll('.results .result-img').length === {k}",
                           timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.results .result-img')]"
        ".every(img => img.complete && img.naturalWidth > 0)", timeout=TIMEOUT_MS)


def test_choose_a_file_shows_the_preview_and_results(page, stack, album_png, output_dir):
    # GIVEN the upload screen WHEN a PNG is chosen in the file picker with k=4
    open_upload(page, stack)
    page.select_option("#k-select", "4")
    page.set_input_files("#upload-input", files=[{"name": "mine.png", "mimeType": "image/png",
                                                  "buffer": album_png}])
    # THEN the preview shows the image, and four results load with scores
    page.wait_for_function("() => { const i = document.querySelector('#upload-preview img');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
    wait_for_results(page, 4)
    assert page.locator(".results .score").count() == 4
    assert page.locator(".results .more-like").count() == 4
    page.screenshot(path=str(output_dir / "e2e-upload.png"))
    assert not page.errors
    assert not page.csp_violations  # preview (blob:) and the presigned POST to S3 are allowed


def test_drop_a_file(page, stack, album_png):
    open_upload(page, stack)
    data = page.evaluate_handle(
        """(b64) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
             return dt;
           }""", base64.b64encode(album_png).decode())
    page.dispatch_event("#upload-drop", "drop", {"dataTransfer": data})
    wait_for_results(page, 5)
    assert page.locator("#upload-preview figcaption").inner_text() == "dropped.png"


def test_paste_an_image(page, stack, album_png):
    open_upload(page, stack)
    page.evaluate(
        """(b64) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], "image.png", { type: "image/png" }));
             document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt }));
           }""", base64.b64encode(album_png).decode())
    wait_for_results(page, 5)


def test_a_text_file_shows_what_to_do(page, stack, output_dir):
    open_upload(page, stack)
    page.set_input_files("#upload-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                  "buffer": b"not an image\n"}])
    error = page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    text = error.inner_text()
    assert "not an image" in text and "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF" in text
    page.screenshot(path=str(output_dir / "e2e-upload-text-file.png"))


def test_a_file_named_png_that_is_text_is_refused_by_the_search(page, stack):
    # The browser believes the type; the agent's decoder does not: the API answers 422 bad_image.
    open_upload(page, stack)
    page.set_input_files("#upload-input", files=[{"name": "fake.png", "mimeType": "image/png",
                                                  "buffer": b"plain text pretending\n" * 10}])
    error = page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    assert "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF" in error.inner_text()
    assert "422" in error.inner_text()


def test_a_file_over_the_limit_says_the_limit(page, stack):
    open_upload(page, stack)
    page.set_input_files("#upload-input", files=[{"name": "huge.png", "mimeType": "image/png",
                                                  "buffer": b"\x89PNG" + bytes(10 * 1024 * 1024)}])
    error = page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    assert "over the limit of 10 MiB" in error.inner_text()


def test_more_like_this_runs_a_search(page, stack, album_png):
    open_upload(page, stack)
    page.set_input_files("#upload-input", files=[{"name": "mine.png", "mimeType": "image/png",
                                                  "buffer": album_png}])
    wait_for_results(page, 5)
    first_name = page.locator(".results .result-name").first.inner_text()
    page.locator(".results .more-like").first.click()
    # THEN the route names the result's gallery image, it is shown as the query, and a search ran
    page.wait_for_url("**#/like/**", timeout=TIMEOUT_MS)
    assert page.url.endswith("/" + first_name)
    page.wait_for_function("() => { const i = document.querySelector('.query-img');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
    # (the new search's answer: the query is never among its own matches)
    page.wait_for_function("name => { const shown = [...document.querySelectorAll('.results .result-name')];"
                           " return shown.length === 5 && !shown.some(n => n.textContent === name); }",
                           arg=first_name, timeout=TIMEOUT_MS)
    wait_for_results(page, 5)
    # AND "more like this" works from an album search too, and back returns
    page.go_back()
    page.wait_for_selector("#upload-drop", timeout=TIMEOUT_MS)


def test_a_phone_photo_is_sent_scaled_down_and_without_its_metadata(page, stack, output_dir):
    # GIVEN an 8-megapixel phone photo, stored sideways (EXIF orientation 6) with GPS and a serial
    import io

    from devstack.s3server import client
    from PIL import Image

    from .site_content import phone_photo

    photo = phone_photo(7)
    s3 = client("s3", stack["s3_endpoint"])
    def uploads() -> list[dict]:
        return s3.list_objects_v2(Bucket=stack["gallery_bucket"], Prefix="uploads/").get("Contents", [])

    before = {o["Key"] for o in uploads()}
    # WHEN it is chosen for a search
    open_upload(page, stack)
    page.set_input_files("#upload-input", files=[{"name": "IMG_0007.jpg", "mimeType": "image/jpeg",
                                                  "buffer": photo}])
    # THEN the search answers, and what reached the bucket is the photo at 1280 px, upright, no EXIF
    wait_for_results(page, 5)
    page.screenshot(path=str(output_dir / "e2e-upload-phone.png"))
    new = [o for o in uploads() if o["Key"] not in before]
    assert len(new) == 1
    sent = s3.get_object(Bucket=stack["gallery_bucket"], Key=new[0]["Key"])
    assert sent["ContentType"] == "image/jpeg"
    data = sent["Body"].read()
    assert len(data) < len(photo) / 4
    from .test_album_weight import record

    record(output_dir, "phone_upload", {"original_bytes": len(photo), "sent_bytes": len(data)})
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (960, 1280)
        assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
    assert not page.errors
    assert not page.csp_violations  # the canvas and the blob it made are allowed by the CSP
