"""Issue 23 in chromium: the Duplicates view, its link from home, and each match's band with weak ones folded.

The page from the repo's site/ against a stubbed API (the `stub_site` fixture); duplicates.json is
answered by a route of this module, in the shape publish writes (imagesearch.ops.duplicates).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 30_000

DUPLICATES = {
    "format": 1, "version": "v-stub", "threshold": 0.9312, "images": 5,
    "groups": [
        {"images": ["gallery/marble/m0.png", "gallery/wood/w0.png"], "keep": "gallery/wood/w0.png",
         "members": [
             {"key": "gallery/marble/m0.png", "album": "marble", "width": 1600, "height": 1200,
              "pixels": 1920000, "bytes": 400_000},
             {"key": "gallery/wood/w0.png", "album": "wood", "width": 4000, "height": 3000,
              "pixels": 12_000_000, "bytes": 3_500_000}]},
        {"images": ["gallery/marble/m1.png", "gallery/marble/m2.png", "gallery/marble/<b>x</b>.png"],
         "keep": "gallery/marble/m1.png",
         "members": [
             {"key": "gallery/marble/m1.png", "album": "marble", "width": 100, "height": 100, "pixels": 10000,
              "bytes": 2048},
             {"key": "gallery/marble/m2.png", "album": "marble", "width": 90, "height": 90, "pixels": 8100,
              "bytes": 4096}]},
    ],
}


def serve_duplicates(page, stub_site, doc=DUPLICATES, status=200):
    """Answer duplicates.json (a route registered after the stub site's takes precedence)."""
    def answer(route):
        if status == 200:
            route.fulfill(json=doc)
        else:
            route.fulfill(status=status, body="no such key", content_type="text/plain")

    page.route(stub_site.url + "duplicates.json*", answer)


def test_home_links_the_duplicates_view_with_its_group_count(page, stub_site):
    serve_duplicates(page, stub_site)
    page.goto(stub_site.url)
    link = page.locator(".duplicates-link a")
    link.wait_for(timeout=TIMEOUT_MS)
    assert link.inner_text() == "Duplicates: 2 groups"
    link.click()
    page.wait_for_selector(".dup-group", timeout=TIMEOUT_MS)
    assert page.url.endswith("#/duplicates")
    assert not page.errors


def test_the_duplicates_view_shows_each_group_side_by_side_with_the_keep(page, stub_site, output_dir):
    serve_duplicates(page, stub_site)
    page.goto(stub_site.url + "#/duplicates")
    page.wait_for_selector(".dup-group", timeout=TIMEOUT_MS)
    groups = page.locator(".dup-group")
    assert groups.count() == 2
    first = groups.nth(0)
    assert first.locator("h2").inner_text() == "Group 1: 2 images"
    tiles = first.locator(".dup")
    assert tiles.count() == 2
    # album, size and the suggested keep on each tile; the keep is the one with the most pixels
    assert [tiles.nth(i).locator(".dup-album").inner_text() for i in range(2)] == ["marble", "wood"]
    assert tiles.nth(1).locator(".dup-size").inner_text() == "4000 × 3000 · 3.3 MiB"
    assert first.locator(".dup.keep .dup-name").inner_text() == "w0.png"
    assert first.locator(".keep-badge").count() == 1
    # side by side: the two tiles share a row
    boxes = [tiles.nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 1 and boxes[1]["x"] > boxes[0]["x"]
    # each tile links to its search ("more like this" on the gallery image) and shows its thumbnail
    assert tiles.nth(0).locator("a").get_attribute("href") == "#/like/marble/m0.png"
    assert tiles.nth(0).locator("img").get_attribute("alt") == "marble/m0.png"
    # a member the document says nothing about still shows, its size unknown; names are text, never markup
    second = groups.nth(1)
    assert second.locator(".dup").nth(2).locator(".dup-size").inner_text() == "size unknown"
    assert second.locator("b").count() == 0
    assert "0.931" in page.locator(".hint").inner_text()
    page.screenshot(path=str(output_dir / "e2e-duplicates.png"), full_page=True)
    tiles.nth(0).locator("a").click()
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    assert stub_site.searches[-1]["key"] == "gallery/marble/m0.png"
    assert not page.errors


def test_no_duplicates_json_means_no_link_and_a_clear_view(page, stub_site):
    serve_duplicates(page, stub_site, status=404)
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)
    assert page.locator(".duplicates-link").count() == 0
    page.goto(stub_site.url + "#/duplicates")
    page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    assert not page.errors


def test_an_empty_duplicates_json_says_none_were_found(page, stub_site):
    serve_duplicates(page, stub_site, doc={"version": "v", "threshold": 0.95, "groups": []})
    page.goto(stub_site.url + "#/duplicates")
    page.wait_for_selector(".no-duplicates", timeout=TIMEOUT_MS)
    assert page.locator(".dup-group").count() == 0


def test_each_match_shows_its_band_and_weak_ones_are_folded(page, stub_site, output_dir):
    # GIVEN an answer with one near-duplicate, two similar and three weak matches
    bands = ["near_duplicate", "similar", "similar", "weak", "weak", "weak"]

    def banded(body):
        status, data = default(body)
        for match, band in zip(data["results"], bands, strict=False):
            match["band"] = band
        data["index"] = {**data["index"], "bands": {"near_duplicate": 0.95, "similar": 0.875}}
        return status, data

    default = stub_site.search
    stub_site.search = banded
    page.goto(stub_site.url + "#/album/marble/m0.png?k=6")
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    # THEN three matches show, each with its band in words, and the weak ones wait behind a fold
    shown = page.locator("ol.results:not(.weak-results) > .result")
    assert shown.count() == 3
    assert [shown.nth(i).locator(".band").inner_text() for i in range(3)] == [
        "near-duplicate", "similar", "similar"]
    fold = page.locator("details.weak-fold")
    assert fold.locator("summary").inner_text() == "show 3 weak matches"
    weak = fold.locator(".result")
    assert weak.count() == 3 and not weak.first.is_visible()
    fold.locator("summary").click()
    assert weak.first.is_visible()
    assert [weak.nth(i).locator(".band").inner_text() for i in range(3)] == ["weak"] * 3
    # the answer says where its bands start
    assert "near-duplicate ≥ 0.950 · similar ≥ 0.875" in page.locator(".answer-meta").inner_text()
    # nothing stands in for an absent part of the answer (no stray "null" text)
    assert "null" not in page.locator("#answer").inner_text()
    page.screenshot(path=str(output_dir / "e2e-weak-folded.png"), full_page=True)
    assert not page.errors


def test_an_answer_without_bands_shows_every_match_unfolded(page, stub_site):
    # An index built before bands: matches carry no band; nothing is folded, no band label.
    page.goto(stub_site.url + "#/album/marble/m0.png?k=4")
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    assert page.locator(".results .result").count() == 4
    assert page.locator("details.weak-fold").count() == 0
    assert page.locator(".band").count() == 0


def test_the_local_stack_publishes_duplicates_and_the_page_shows_them(page, stack, output_dir):
    # GIVEN the demo stack (its sample has re-saved copies; publish wrote duplicates.json)
    page.goto(stack["url"])
    link = page.locator(".duplicates-link a")
    link.wait_for(timeout=TIMEOUT_MS)
    assert link.inner_text().startswith("Duplicates: ")
    # WHEN the user opens the view
    link.click()
    page.wait_for_selector(".dup-group", timeout=TIMEOUT_MS)
    # THEN a re-saved copy sits beside its original, with album, size and one suggested keep per group
    copies = page.locator(".dup-group", has=page.locator(".dup-name", has_text="_00000_copy.jpg"))
    assert copies.count() >= 1
    group = copies.first
    names = [n.inner_text() for n in group.locator(".dup-name").all()]
    copy = next(n for n in names if n.endswith("_00000_copy.jpg"))
    assert copy.replace("_copy.jpg", ".png") in names
    for each in page.locator(".dup-group").all():
        assert each.locator(".keep-badge").count() == 1
    assert "28 × 28" in group.locator(".dup-size").first.inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('.dup-img')].every(i => i.complete)",
                           timeout=TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "e2e-duplicates-stack.png"), full_page=True)
    # and each image is a link to its search, answered with a band on every match
    group.locator(".dup-link").first.click()
    page.wait_for_selector(".results .result .band", timeout=TIMEOUT_MS)
    assert not page.errors
