"""Whole albums on the local stack in chromium: what opening an album costs, and its last image reached.

The albums are written into the stack's site bucket (moto) as docs/contracts.md says publish and
ingest write them (tests/e2e/site_content.py): 48 phone photos' display copies (six distinct 8 MP
photos in turn, each tile its own URL: the bytes of a real album, at an eighth of the making, which
took a minute of the suite's critical path), an album of 300 and one of 10,000 listed images. The
bytes are what chromium's network layer counted (the DevTools protocol's encodedDataLength: headers
and bodies as received), with its cache off.
"""

from __future__ import annotations

import json
import re

import pytest

from ..conftest import STACK_WORK_DIR
from .site_content import SiteAlbum, add_to_albums_json, phone_display_copies, put_album

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000
MB = 1_000_000
PHONES = SiteAlbum("phones48", [f"IMG_{i:04d}.jpg" for i in range(48)], skipped=3)
BIG = SiteAlbum("big300", [f"IMG_{i:04d}.jpg" for i in range(300)])
HUGE = SiteAlbum("huge10000", [f"IMG_{i:05d}.jpg" for i in range(10_000)])
HUGE_WITH_COPIES = 200  # the first screen never reaches past the first listing page
DISTINCT_PHONES = 6  # photos made (about 3 s each); the albums' tiles reuse their copies in turn


@pytest.fixture(scope="module")
def site_albums(stack):
    """The three albums in the stack's site bucket, next to the albums it published; taken out of
    albums.json afterwards (other tests open the stack's first album)."""
    from devstack.s3server import client

    s3 = client("s3", stack["s3_endpoint"])
    copies = phone_display_copies(DISTINCT_PHONES, STACK_WORK_DIR / "phone-display-copies")  # cached
    bucket = stack["site_bucket"]
    entries = [put_album(s3, bucket, PHONES, copies), put_album(s3, bucket, BIG, copies),
               put_album(s3, bucket, HUGE, copies, with_copies=HUGE_WITH_COPIES)]
    yield add_to_albums_json(s3, bucket, entries)
    add_to_albums_json(s3, bucket, [{"name": entry["name"], "remove": True} for entry in entries])


class Transfer:
    """Every response chromium received for a page, with its size on the wire, from the DevTools protocol."""

    def __init__(self, context, page):
        self.urls: dict[str, str] = {}
        self.bytes: dict[str, int] = {}
        self.status: dict[str, int] = {}
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.on("Network.requestWillBeSent",
               lambda e: self.urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.responseReceived",
               lambda e: self.status.__setitem__(e["requestId"], e["response"]["status"]))
        cdp.on("Network.loadingFinished",
               lambda e: self.bytes.__setitem__(e["requestId"], int(e["encodedDataLength"])))

    def total(self) -> int:
        return sum(self.bytes.values())

    def paths(self, base: str) -> list[str]:
        return [self.urls[r].removeprefix(base) for r in self.bytes if r in self.urls]

    def failed(self) -> list[tuple[str, int]]:
        """Failed responses, but the browser's own favicon.ico probe (the site has none)."""
        return [(self.urls.get(r, r), s) for r, s in self.status.items()
                if s >= 400 and not self.urls.get(r, "").endswith("/favicon.ico")]

    def summary(self, base: str) -> dict:
        by_kind: dict[str, list[int]] = {}
        for request, size in self.bytes.items():
            path = self.urls.get(request, "").removeprefix(base)
            kind = path.split("/", 1)[0] if "/" in path else "page"
            by_kind.setdefault(kind, []).append(size)
        return {"total_bytes": self.total(),
                "by_kind": {k: {"requests": len(v), "bytes": sum(v)} for k, v in sorted(by_kind.items())}}


def settle(page) -> None:
    """Wait until every tile that asked for its thumbnail has it, and the network is quiet."""
    page.wait_for_function("() => [...document.querySelectorAll('#album-grid img[src]')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # the last loadingFinished events reach Python


@pytest.fixture()
def measured(browser):
    """A fresh desktop-sized page (empty cache) with its network transfer recorded."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    transfer = Transfer(context, page)
    yield page, transfer
    context.close()


def record(output_dir, name: str, figures: dict) -> None:
    """Keep the measured figures next to the screenshots (bench/page_weight.py writes the docs)."""
    path = output_dir / "page-weight.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current[name] = figures
    path.write_text(json.dumps(current, indent=2) + "\n")


def test_an_album_of_48_phone_photos_opens_within_3_mb(measured, stack, site_albums, output_dir):
    page, transfer = measured
    # WHEN the album is opened and scrolled to its end, so every one of its 48 tiles loads
    page.goto(stack["url"] + f"#/album/{PHONES.name}")
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    settle(page)
    page.screenshot(path=str(output_dir / "e2e-album-phones.png"))
    page.locator("#album-grid .thumb").last.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.querySelectorAll('#album-grid img')]"
                           ".every(i => i.getAttribute('src'))", timeout=TIMEOUT_MS)
    settle(page)
    # THEN 48 thumbnails came, nothing else of the images, and all of it within 3 MB
    paths = transfer.paths(stack["url"])
    thumbs = [p for p in paths if p.startswith(f"thumbs/{PHONES.name}/")]
    assert len(thumbs) == 48, paths
    assert not [p for p in paths if p.startswith(("gallery/", "albums/", "previews/"))], paths
    assert not transfer.failed()
    figures = transfer.summary(stack["url"])
    record(output_dir, "phones48_whole_album", figures)
    assert figures["total_bytes"] <= 3 * MB, figures
    # and the page says what could not be read
    assert page.locator("#album-skipped").inner_text().startswith("3 files could not be read")
    assert not page.errors


def test_a_10000_image_album_opens_within_2_mb(measured, stack, site_albums, output_dir):
    page, transfer = measured
    # WHEN the album is opened, first screen only
    page.goto(stack["url"] + f"#/album/{HUGE.name}")
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    settle(page)
    page.screenshot(path=str(output_dir / "e2e-album-10000.png"))
    # THEN one listing page and the thumbnails near the screen came, within 2 MB
    paths = transfer.paths(stack["url"])
    assert [p for p in paths if p.startswith("listings/")] == [f"listings/{HUGE.name}/1.json"]
    thumbs = [p for p in paths if p.startswith("thumbs/")]
    assert 0 < len(thumbs) <= 100
    assert not transfer.failed()
    figures = {**transfer.summary(stack["url"]), "tiles_shown": page.locator("#album-grid .thumb").count(),
               "thumbnails_loaded": len(thumbs)}
    record(output_dir, "huge10000_first_screen", figures)
    assert figures["total_bytes"] <= 2 * MB, figures
    assert page.locator("#album-status").inner_text() == "Showing 100 of 10,000 images."
    assert not page.errors


def test_the_last_image_of_an_album_of_300_is_reached_through_the_page(page, stack, site_albums, output_dir):
    # GIVEN the album page, 100 tiles at first
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    card = page.locator(".album-card", has_text=BIG.name)
    assert card.locator(".album-count").inner_text() == "300 images"
    card.click()
    page.wait_for_selector("#album-grid .thumb", timeout=TIMEOUT_MS)
    # WHEN the user asks for more until the album ends
    while page.locator("#show-more").is_visible():
        shown = page.locator("#album-grid .thumb").count()
        page.click("#show-more")
        page.wait_for_function(f"() => document.querySelectorAll('#album-grid .thumb').length > {shown}",
                               timeout=TIMEOUT_MS)
    # THEN every image is there, in order, and the last one's thumbnail loads when scrolled to
    keys = page.locator("#album-grid a.thumb").evaluate_all("as => as.map(a => a.dataset.key)")
    assert keys == [f"gallery/{BIG.name}/{f}" for f in BIG.files]
    last = page.locator("#album-grid .thumb").last
    last.scroll_into_view_if_needed()
    page.wait_for_function("() => { const i = document.querySelector('#album-grid li:last-child img');"
                           " return i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "e2e-album-300-last.png"))
    # AND it opens as a query: its preview is shown and its gallery key is what the page asks about
    with page.expect_request("**/api/search") as searched:
        last.click()
    assert searched.value.post_data_json["key"] == f"gallery/{BIG.name}/{BIG.files[-1]}"
    assert re.search(rf"#/album/{BIG.name}/{BIG.files[-1]}\?k=5$", page.url)
    page.wait_for_function("() => { const i = document.querySelector('.query-img');"
                           " return i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
    assert page.get_attribute(".query-img", "src") == f"previews/{BIG.name}/{BIG.files[-1]}"
    assert not page.errors
    assert not page.csp_violations
