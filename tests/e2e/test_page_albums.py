"""The page's albums, answers and uploads in chromium against a stubbed site (no local stack).

Whole albums through paged listings (docs/contracts.md, "Site bucket"), what a user reads on each
screen (no `null`, `undefined` or `NaN`), and what an upload sends: a phone photo scaled down in the
browser, a HEIC file as it is.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from .conftest import listing_page

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 30_000
# What a user must never read: the text of a missing value, or of an object.
NOT_TEXT = re.compile(r"\b(null|undefined|NaN)\b|\[object \w+\]")


def visible_text(page) -> str:
    """What a user reads: the rendered text of the whole page (innerText leaves hidden parts out)."""
    return page.evaluate("document.body.innerText")


def assert_reads_clean(page) -> str:
    text = visible_text(page)
    assert not NOT_TEXT.search(text), text
    return text


def big_album(stub_site, name: str, count: int, skipped: int = 0) -> list[str]:
    """An album of `count` images in the stub site: albums.json entry and every listing page."""
    files = [f"img{i:05d}.png" for i in range(count)]
    pages = -(-count // 100)
    stub_site.albums = {**stub_site.albums, "albums": [*stub_site.albums["albums"], {
        "name": name, "cover": f"gallery/{name}/{files[0]}" if files else None, "count": count,
        "skipped": skipped, "pages": pages, "page_size": 100}]}
    for page in range(1, pages + 1):
        stub_site.listings[f"listings/{name}/{page}.json"] = listing_page(name, files, page)
    return files


def tiles(page) -> list[str]:
    return page.locator("#album-grid a.thumb").evaluate_all("as => as.map(a => a.dataset.key)")


# --- what a user reads ---------------------------------------------------------------------------


def test_an_answer_reads_without_null_undefined_or_nan(page, stub_site, output_dir):
    # GIVEN answers with every optional part present, and with every one of them missing
    full = stub_site.search
    sparse = {"query": {"key": "gallery/marble/m0.png"},
              "results": [{"key": "results/gallery/marble/m1.png", "url": "results/gallery/marble/m1.png"},
                          {"key": "results/gallery/marble/m2.png", "url": None, "score": None}]}
    for search, k, heading in ((full, 3, "3 matches"), (lambda body: (200, sparse), 2, "2 matches")):
        stub_site.search = search
        # WHEN the user opens an image's search
        page.goto(stub_site.url + f"#/album/marble/m0.png?k={k}")
        page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
        page.wait_for_function("() => !document.querySelector('#answer .loading')", timeout=TIMEOUT_MS)
        # THEN the whole visible text names the matches and has no missing-value text
        text = assert_reads_clean(page)
        assert re.search(rf"^{heading}$", text, re.M), text
    page.screenshot(path=str(output_dir / "e2e-answer-text.png"), full_page=True)
    # and the screen under the heading starts with the results, not a stray text line
    first = page.evaluate("document.querySelector('#answer h2').nextSibling.nodeType")
    assert first == 1  # an element: no text node between the heading and the results
    assert not page.errors


def test_every_screen_reads_clean(page, stub_site):
    big_album(stub_site, "empty", 0)
    for route, ready in (("", ".album-card"), ("#/album/marble", "#album-grid .thumb"),
                         ("#/album/wood", "#album-skipped"), ("#/album/empty", "#album-status"),
                         ("#/upload", "#upload-drop"), ("#/nowhere", ".error")):
        page.goto(stub_site.url + route)
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
        assert_reads_clean(page)
    assert not page.errors


# --- whole albums ----------------------------------------------------------------------------------


def test_an_album_shows_thumbnails_and_searches_by_gallery_key(page, stub_site):
    page.goto(stub_site.url + "#/album/marble")
    page.wait_for_selector("#album-grid .thumb img[src]", timeout=TIMEOUT_MS)
    # THEN the tiles are the album's thumbnails, not originals
    sources = page.locator("#album-grid img").evaluate_all("is => is.map(i => i.getAttribute('src'))")
    assert sources == ["thumbs/marble/m0.png", "thumbs/marble/m1.png", "thumbs/marble/m2.png"]
    assert page.locator("#album-status").inner_text() == "Showing 3 of 3 images."
    assert page.locator("#show-more").is_hidden()
    # WHEN a tile is clicked THEN the query is its gallery key, and the query view shows its preview
    page.locator("#album-grid .thumb").nth(1).click()
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    assert stub_site.searches[-1] == {"key": "gallery/marble/m1.png", "k": 5}
    assert page.get_attribute(".query-img", "src") == "previews/marble/m1.png"
    assert not any(p.startswith(("albums/", "gallery/")) for p in stub_site.requested), stub_site.requested


def test_an_album_of_300_is_reached_to_its_last_image_with_show_more(page, stub_site, output_dir):
    files = big_album(stub_site, "big", 300)
    page.goto(stub_site.url + "#/album/big")
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    assert len(tiles(page)) == 100
    assert page.locator("#album-status").inner_text() == "Showing 100 of 300 images."
    # Lazily: only the tiles near the first screen asked for their thumbnail.
    page.wait_for_timeout(300)
    asked = [p for p in stub_site.requested if p.startswith("thumbs/big/")]
    assert 0 < len(asked) < 100, len(asked)
    for shown in (200, 300):
        page.focus("#show-more")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelectorAll('#album-grid .thumb').length === {shown}",
                               timeout=TIMEOUT_MS)
        # the keyboard goes on from the first tile added (the button hides while it loads)
        assert page.evaluate("document.activeElement.dataset.key") == f"gallery/big/{files[shown - 100]}"
    assert tiles(page) == [f"gallery/big/{f}" for f in files]
    assert page.locator("#show-more").is_hidden()
    assert page.locator("#album-status").inner_text() == "Showing 300 of 300 images."
    # The last image's tile loads when scrolled to, and opens its search.
    last = page.locator("#album-grid .thumb").last
    last.scroll_into_view_if_needed()
    page.wait_for_function("() => { const i = document.querySelector('#album-grid li:last-child img');"
                           " return i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
    assert "thumbs/big/img00299.png" in stub_site.requested
    page.screenshot(path=str(output_dir / "e2e-album-300-end.png"))
    last.click()
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    assert stub_site.searches[-1]["key"] == "gallery/big/img00299.png"
    # AND back shows the same 300 tiles without loading the listing again, the last one in view
    listing_loads = sum(p.startswith("listings/big/") for p in stub_site.requested)
    page.go_back()
    page.wait_for_function("() => document.querySelectorAll('#album-grid .thumb').length === 300",
                           timeout=TIMEOUT_MS)
    assert sum(p.startswith("listings/big/") for p in stub_site.requested) == listing_loads
    assert page.evaluate("document.activeElement.dataset.key") == "gallery/big/img00299.png"
    assert not page.errors


def test_a_listing_page_that_fails_shows_an_error_and_a_retry(page, stub_site, output_dir):
    big_album(stub_site, "big", 250)
    page_two = stub_site.listings.pop("listings/big/2.json")
    page.goto(stub_site.url + "#/album/big")
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    # WHEN the second page cannot be loaded
    page.click("#show-more")
    error = page.wait_for_selector("#album-more .error", timeout=TIMEOUT_MS)
    # THEN the first page stays, the error says what failed, and retrying loads the rest
    assert "could not be loaded" in error.inner_text() and "404" in error.inner_text()
    assert "page 2 of the album answered HTTP 404" in error.inner_text()
    assert_reads_clean(page)
    assert len(tiles(page)) == 100
    page.screenshot(path=str(output_dir / "e2e-album-listing-error.png"))
    stub_site.listings["listings/big/2.json"] = page_two
    page.click("#album-more .error button")
    page.wait_for_function("() => document.querySelectorAll('#album-grid .thumb').length === 200",
                           timeout=TIMEOUT_MS)
    assert page.locator("#album-more .error").count() == 0
    page.click("#show-more")
    page.wait_for_function("() => document.querySelectorAll('#album-grid .thumb').length === 250",
                           timeout=TIMEOUT_MS)
    assert page.locator("#show-more").is_hidden()
    assert not page.errors


def test_a_listing_page_that_arrives_after_leaving_and_coming_back_is_shown(page, stub_site):
    big_album(stub_site, "big", 150)
    held = []
    page.route(stub_site.url + "listings/big/1.json", lambda route: held.append(route))
    # GIVEN the first page of an album on its way WHEN the user leaves and comes back before it arrives
    page.goto(stub_site.url + "#/album/big")
    page.wait_for_function("() => (document.querySelector('#album-status') || {}).textContent"
                           "?.includes('loading more')", timeout=TIMEOUT_MS)
    page.goto(stub_site.url + "#/")
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    page.goto(stub_site.url + "#/album/big")
    page.wait_for_selector("#album-status", timeout=TIMEOUT_MS)
    assert len(held) == 1  # asked for once
    held[0].fallback()
    # THEN its tiles appear on the album now shown, once, and the rest is one click away
    page.wait_for_function("() => document.querySelectorAll('#album-grid .thumb').length === 100",
                           timeout=TIMEOUT_MS)
    assert page.locator("#album-status").inner_text() == "Showing 100 of 150 images."
    page.click("#show-more")
    page.wait_for_function("() => document.querySelectorAll('#album-grid .thumb').length === 150",
                           timeout=TIMEOUT_MS)
    assert len(set(tiles(page))) == 150
    assert not page.errors


def test_a_missing_preview_is_said_not_shown_broken(page, stub_site):
    page.goto(stub_site.url + "#/album/marble/gone.jpg?k=2")
    box = page.wait_for_selector(".query-figure .no-preview", timeout=TIMEOUT_MS)
    assert box.inner_text() == "No preview of this image."
    assert page.locator(".query-figure img").count() == 0
    assert not page.errors


def test_an_album_says_how_many_files_could_not_be_read(page, stub_site, output_dir):
    page.goto(stub_site.url + "#/album/wood")
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    note = page.locator("#album-skipped").inner_text()
    assert note.startswith("2 files could not be read")
    assert len(tiles(page)) == 1
    page.screenshot(path=str(output_dir / "e2e-album-skipped.png"))
    assert not page.errors


def test_an_album_with_no_images(page, stub_site):
    big_album(stub_site, "empty", 0, skipped=1)
    page.goto(stub_site.url + "#/album/empty")
    page.wait_for_selector("#album-status", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#album-status').textContent !== ''")
    assert page.locator("#album-status").inner_text() == "This album has no images yet."
    assert page.locator("#album-skipped").inner_text().startswith("1 file could not be read")
    assert page.locator("#show-more").is_hidden()
    assert not any(p.startswith("listings/empty/") for p in stub_site.requested)
    assert not page.errors


# --- uploads sized for phones ------------------------------------------------------------------------


def jpeg_with_exif(size: tuple[int, int], orientation: int = 6) -> bytes:
    img = Image.new("RGB", size, (200, 60, 40))
    img.paste((40, 60, 200), (0, 0, size[0] // 2, size[1] // 4))  # a mark to check which way is up
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0xA431] = "SERIAL000001"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def choose(page, stub_site, name: str, mime: str, data: bytes) -> dict[str, tuple[str, bytes]]:
    page.goto(stub_site.url + "#/upload")
    page.wait_for_selector("#upload-drop", timeout=TIMEOUT_MS)
    page.set_input_files("#upload-input", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    assert len(stub_site.uploads) == 1
    return stub_site.uploads[0]


def test_a_phone_photo_is_scaled_down_upright_and_without_metadata_before_upload(page, stub_site):
    # GIVEN a 12-megapixel JPEG stored sideways (orientation 6) with GPS and a camera serial
    photo = jpeg_with_exif((4000, 3000))
    # WHEN it is chosen for a search
    form = choose(page, stub_site, "IMG_0001.jpg", "image/jpeg", photo)
    # THEN what crossed the link is a JPEG of long side 1280, upright (portrait), with no EXIF at all
    content_type, sent = form["file"]
    assert form["Content-Type"][1] == b"image/jpeg"
    with Image.open(io.BytesIO(sent)) as img:
        assert img.format == "JPEG" and img.size == (960, 1280)
        assert not img.getexif() and "exif" not in img.info
        top = img.convert("RGB").getpixel((img.width - 10, 10))  # the mark, turned upright
    assert top[2] > 150 and top[0] < 100, top
    assert len(sent) < len(photo) / 5
    assert page.locator("#upload-preview figcaption").inner_text() == "IMG_0001.jpg"
    assert not page.errors


def test_the_upload_progress_names_what_is_sent(page, stub_site):
    # The upload is held so its progress can be read.
    held = []
    page.route(stub_site.url + "upload-bucket", lambda route: held.append(route))
    page.goto(stub_site.url + "#/upload")
    page.wait_for_selector("#upload-drop", timeout=TIMEOUT_MS)
    page.set_input_files("#upload-input", files=[{"name": "big.jpg", "mimeType": "image/jpeg",
                                                  "buffer": jpeg_with_exif((4000, 3000))}])
    status = page.wait_for_selector("#answer label[for=upload-progress]", timeout=TIMEOUT_MS)
    text = status.inner_text()
    assert re.match(r"Uploading \d+ KiB \(scaled down from [\d.]+ (KiB|MiB)\)…", text), text
    assert page.locator("#upload-progress").is_visible()
    assert held


def test_a_small_image_and_a_heic_file_go_as_they_are(page, stub_site, output_dir):
    # A small PNG needs no scaling: its exact bytes are searched.
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 30)).save(small, "PNG")
    form = choose(page, stub_site, "small.png", "image/png", small.getvalue())
    assert form["file"][1] == small.getvalue() and form["Content-Type"][1] == b"image/png"
    # A HEIC file the browser cannot decode, which it names with no type: sent as it is, typed by its
    # suffix; the preview says it cannot be shown instead of a broken image.
    stub_site.uploads.clear()
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(2000)
    form = choose(page, stub_site, "IMG_0002.HEIC", "", heic)
    assert form["file"][1] == heic and form["Content-Type"][1] == b"image/heic"
    page.wait_for_selector("#upload-preview .no-preview", timeout=TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "e2e-upload-heic.png"))
    assert not page.errors


def test_the_picker_takes_phone_formats_and_the_error_names_them(page, stub_site):
    page.goto(stub_site.url + "#/upload")
    page.wait_for_selector("#upload-drop", timeout=TIMEOUT_MS)
    accept = page.get_attribute("#upload-input", "accept").split(",")
    assert {"image/*", ".heic", ".heif", ".avif"} <= set(accept)
    page.set_input_files("#upload-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                  "buffer": b"not an image\n"}])
    text = page.wait_for_selector(".error", timeout=TIMEOUT_MS).inner_text()
    for name in ("JPEG", "PNG", "WebP", "HEIC", "AVIF"):
        assert name in text
    assert not stub_site.uploads


def test_an_album_at_phone_width(browser, make_stub_site, output_dir):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        stub_site = make_stub_site(page)
        big_album(stub_site, "big", 300, skipped=4)
        page.goto(stub_site.url + "#/album/big")
        page.wait_for_selector("#album-grid .thumb img[src]", timeout=TIMEOUT_MS)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(output_dir / "e2e-album-phone.png"))
        # fewer tiles are near a phone's screen: fewer thumbnails are fetched
        asked = [p for p in stub_site.requested if p.startswith("thumbs/big/")]
        assert 0 < len(asked) < 40, len(asked)
    finally:
        context.close()
