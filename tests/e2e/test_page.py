"""The page in headless chromium against the running local stack."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000


def config_route(page, api_url: str, **extra) -> None:
    """Serve a config.js naming another API URL (as a different publish would)."""
    body = "export default " + json.dumps({"apiUrl": api_url, **extra}) + ";\n"
    page.route("**/config.js", lambda route: route.fulfill(body=body, content_type="text/javascript"))


def open_first_album(page, stack) -> str:
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    first = page.locator(".album-card").first
    name = first.locator(".album-name").inner_text()
    first.click()
    page.wait_for_selector(".image-grid .thumb", timeout=TIMEOUT_MS)
    return name


def test_search_flow_shows_k_matches_scores_and_timings(page, stack, output_dir):
    # GIVEN the home page THEN albums are listed with a cover and a count, and the demo-weights label
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    assert page.locator(".album-card").count() >= 2
    assert re.fullmatch(r"\d+ images?", page.locator(".album-count").first.inner_text())
    assert page.locator(".badge.warn").inner_text() == "demo weights, not pretrained"
    page.wait_for_function("() => [...document.querySelectorAll('.cover')].every(i => i.complete)")
    page.screenshot(path=str(output_dir / "e2e-home.png"))
    # WHEN opening an album, choosing k=3 and clicking an image
    album = open_first_album(page, stack)
    page.screenshot(path=str(output_dir / "e2e-album.png"))
    assert page.url.endswith(f"#/album/{album}")
    assert page.locator("#k-select").input_value() == "5"  # the default
    page.select_option("#k-select", "3")
    page.locator(".image-grid .thumb").nth(2).click()
    assert re.search(rf"#/album/{album}/[^?]+\?k=3$", page.url)
    # THEN three result images load and decode, with scores and the timing breakdown
    page.wait_for_selector(".results .result-img", timeout=TIMEOUT_MS)
    images = page.locator(".results .result-img")
    assert images.count() == 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('.results .result-img')]"
        ".every(img => img.complete && img.naturalWidth > 0)", timeout=TIMEOUT_MS)
    widths = page.eval_on_selector_all(".results .result-img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)
    scores = page.locator(".results .score").all_inner_texts()
    assert len(scores) == 3 and all(re.fullmatch(r"score -?\d\.\d{3}", s) for s in scores)
    # Every album image was warmed at publish: the result cache answers, and the table says so.
    for stage in ("cache_read", "copy", "total"):
        value = page.locator(f".timings .timing-{stage} td.ms").inner_text()
        assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", value), (stage, value)
    assert page.locator(".timings .timing-ssm_wait").count() == 0
    assert page.locator(".answer-meta .badge").inner_text() == "cached"
    # the query image itself is shown scaled up, pixelated
    assert page.eval_on_selector(".query-img", "i => getComputedStyle(i).imageRendering") == "pixelated"
    page.screenshot(path=str(output_dir / "e2e-results.png"), full_page=True)
    assert not page.errors


def test_back_returns_to_the_album_and_home(page, stack):
    album = open_first_album(page, stack)
    page.locator(".image-grid .thumb").first.click()
    page.wait_for_selector(".results, .error", timeout=TIMEOUT_MS)
    page.go_back()
    page.wait_for_selector(".image-grid", timeout=TIMEOUT_MS)
    assert page.url.endswith(f"#/album/{album}")
    page.go_back()
    page.wait_for_selector(".album-list", timeout=TIMEOUT_MS)


def test_usable_by_keyboard(page, stack):
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    # Tab through skip link and brand to the first album card; Enter opens it.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('album-card')"):
            break
    else:
        pytest.fail("no album card reached with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "focused links show a focus ring"
    page.keyboard.press("Enter")
    page.wait_for_selector(".image-grid .thumb", timeout=TIMEOUT_MS)
    # The k selector and the thumbnails are reachable and operable from the keyboard too.
    page.focus("#k-select")
    page.keyboard.press("ArrowDown")  # 5 -> 6
    page.keyboard.press("Tab")
    page.wait_for_timeout(50)
    assert page.evaluate("document.activeElement.tagName") in ("A", "BUTTON", "SELECT")
    page.locator(".image-grid .thumb").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".results .result-img", timeout=TIMEOUT_MS)
    assert page.locator(".results .result-img").count() == 6


def test_phone_width_has_no_horizontal_scroll(browser, stack, output_dir):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(stack["url"])
        page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
        page.locator(".album-card").first.click()
        page.locator(".image-grid .thumb").first.click()
        page.wait_for_selector(".results .result-img", timeout=TIMEOUT_MS)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        page.screenshot(path=str(output_dir / "e2e-phone.png"), full_page=True)
    finally:
        context.close()


def test_unreachable_api_shows_its_error(page, stack, dead_port, output_dir):
    # GIVEN a page whose API is down (nothing listens on its port)
    config_route(page, f"http://127.0.0.1:{dead_port}/api")
    open_first_album(page, stack)
    page.locator(".image-grid .thumb").first.click()
    error = page.wait_for_selector('.error[data-kind="unreachable"]', timeout=TIMEOUT_MS)
    assert "unreachable" in error.inner_text()
    assert page.locator(".error button").inner_text() == "Try again"
    page.screenshot(path=str(output_dir / "e2e-unreachable.png"))


def test_a_hung_api_shows_the_timeout_error(page, stack, silent_port):
    config_route(page, f"http://127.0.0.1:{silent_port}/api", searchTimeoutMs=1500)
    open_first_album(page, stack)
    page.locator(".image-grid .thumb").first.click()
    # While it waits, the loading state is visible.
    loading = page.wait_for_selector('#answer .loading[role="status"]', timeout=TIMEOUT_MS)
    assert "Searching for 5 matches" in loading.inner_text()
    error = page.wait_for_selector('.error[data-kind="timeout"]', timeout=TIMEOUT_MS)
    assert "timed out" in error.inner_text()


def test_an_error_answer_shows_the_api_message(page, stack):
    # GIVEN an image the album does not have THEN the API's 404 message is shown as it was sent
    album = open_first_album(page, stack)
    page.goto(f"{stack['url']}#/album/{album}/no_such_image.png?k=3")
    error = page.wait_for_selector('.error[data-kind="answer"]', timeout=TIMEOUT_MS)
    text = error.inner_text()
    assert "No such image" in text
    assert "albums/" + album + "/no_such_image.png" in text  # the API's own message
    assert "HTTP 404" in text


def test_a_bad_request_answer_is_shown(page, stack):
    # A file name outside the safe character set is refused by the API's validation (400).
    album = open_first_album(page, stack)
    page.goto(f"{stack['url']}#/album/{album}/bad%20name%3B.png?k=3")
    error = page.wait_for_selector('.error[data-kind="answer"]', timeout=TIMEOUT_MS)
    assert "HTTP 400" in error.inner_text()


def test_album_data_is_rendered_as_text(page, stack):
    # A hostile album name from the URL is shown as text, never parsed as markup.
    page.goto(stack["url"] + "#/album/%3Cimg%20src%3Dx%20onerror%3Dwindow.pwned%3D1%3E")
    page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    assert "<img src=x" in page.locator(".error").inner_text()
    assert page.evaluate("window.pwned") is None


def test_the_controller_runs_against_stubs(page, stack):
    # app.js takes its api and views, so it can be driven with stubs in the browser.
    page.goto(stack["url"])
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    result = page.evaluate("""async () => {
      const { createApp, parseRoute, clampK } = await import("./app.js");
      const calls = [];
      const api = {
        albums: async () => ({ albums: [{ name: "a", cover: "", count: 1, images: ["albums/a/x.png"] }],
                               index: { pretrained: false } }),
        search: async (key, k) => {
          calls.push(["search", key, k]);
          throw Object.assign(new Error("boom"), { kind: "answer", status: 502 });
        },
      };
      const views = new Proxy({}, { get: (_, name) => (...args) => calls.push([name, ...args.slice(0, 3)]) });
      const win = { location: { hash: "#/album/a/x.png?k=7" }, addEventListener: () => {} };
      await createApp({ api, views, win }).start();
      return {
        calls: calls.map((c) => c.map((v) => (v && typeof v === "object" ? (v.message || "obj") : v))),
        routes: [parseRoute("#/"), parseRoute("#/album/m"), parseRoute("#/album/m/f.png?k=99"),
                 parseRoute("#/album/%E0%A4%A"), parseRoute("#/other")],
        ks: [clampK("3"), clampK("0"), clampK("x"), clampK(42)],
      };
    }""")
    names = [c[0] for c in result["calls"]]
    assert names == ["showLoading", "setIndexInfo", "showQuery", "showSearching", "search", "showSearchError"]
    assert result["calls"][4] == ["search", "albums/a/x.png", 7]
    assert result["calls"][5][1] == "boom"
    assert result["routes"] == [{"name": "home"}, {"name": "album", "album": "m"},
                                {"name": "image", "album": "m", "file": "f.png", "k": 10},
                                {"name": "unknown"}, {"name": "unknown"}]
    assert result["ks"] == [3, 1, 5, 10]
