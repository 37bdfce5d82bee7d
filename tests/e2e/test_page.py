"""The page in headless chromium against the running local stack, and against a stubbed API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

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
    # the real answer reads clean: no missing-value text anywhere a user can see
    visible = page.evaluate("document.body.innerText")
    assert not re.search(r"\b(null|undefined|NaN)\b|\[object \w+\]", visible), visible
    assert not page.errors
    assert not page.csp_violations  # the whole flow ran under the distribution's CSP


def test_the_page_is_served_with_the_distributions_security_headers(page, stack):
    # GIVEN the dev server, which sends the template's response headers policy
    response = page.goto(stack["url"])
    headers = response.headers
    # THEN the page carries the CSP, nosniff and the referrer policy
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none';" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    # AND an inline script is refused by it, the page's own modules run
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    from playwright.sync_api import Error as PlaywrightError

    with pytest.raises(PlaywrightError, match="Content Security Policy"):
        page.add_script_tag(content="window.__inline = true;")
    assert page.evaluate("() => window.__inline === undefined")


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


def test_unreachable_api_shows_its_error(page, stack, output_dir):
    # GIVEN a page whose API is down (the connection fails). The CSP's connect-src allows only the
    # page's own API, so the failure is made on that origin rather than by pointing elsewhere.
    page.route("**/api/search", lambda route: route.abort("connectionrefused"))
    open_first_album(page, stack)
    page.locator(".image-grid .thumb").first.click()
    error = page.wait_for_selector('.error[data-kind="unreachable"]', timeout=TIMEOUT_MS)
    assert "unreachable" in error.inner_text()
    assert page.locator(".error button").inner_text() == "Try again"
    page.screenshot(path=str(output_dir / "e2e-unreachable.png"))


def test_a_hung_api_shows_the_timeout_error(page, stack):
    # The page's own API never answers: the request is held and never fulfilled.
    config_route(page, "/api", searchTimeoutMs=1500)
    page.route("**/api/search", lambda route: None)
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
    assert "gallery/" + album + "/no_such_image.png" in text  # the API's own message
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


def test_a_match_whose_copy_failed_shows_a_copy_failed_tile(page, stub_site, output_dir):
    # GIVEN an answer whose second match could not be copied (docs/contracts.md, "HTTP API")
    def one_copy_failed(body):
        status, data = default(body)
        failed = data["results"][1]
        failed.update(url=None, error="copy_failed")
        data["missing"] = [failed["key"].removeprefix("results/")]
        return status, data

    default = stub_site.search
    stub_site.search = one_copy_failed
    # WHEN the user searches with k=3
    page.goto(stub_site.url + "#/album/marble/m0.png?k=3")
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    # THEN the failed match is a visible, labelled tile with text, and no image at all
    matches = page.locator(".results .result")
    assert matches.count() == 3
    failed = matches.nth(1)
    assert failed.locator("img").count() == 0
    tile = failed.locator(".result-missing")
    assert tile.is_visible() and tile.inner_text().strip().endswith("copy failed")
    assert page.get_by_role("img", name="match: marble/m1.png, copy failed").count() == 1
    assert failed.locator(".score").inner_text() == "score 0.890"
    assert "1 of them could not be copied" in page.locator(".copy-note").inner_text()
    # styled: the size of an image tile, in the error colours, not a transparent gap
    image_box = matches.nth(0).locator("img").bounding_box()
    tile_box = tile.bounding_box()
    assert abs(tile_box["width"] - image_box["width"]) <= 1
    assert abs(tile_box["height"] - image_box["height"]) <= 1
    style = tile.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderStyle]")
    assert style[0] not in ("rgba(0, 0, 0, 0)", "transparent") and style[1] == "dashed"
    # and the copied matches still show their images, decoded
    page.wait_for_function(
        "() => [...document.querySelectorAll('.results img')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=TIMEOUT_MS)
    assert page.locator(".results img").count() == 2
    page.screenshot(path=str(output_dir / "e2e-copy-failed.png"), full_page=True)
    assert not page.errors


FUNCTION_DIRS = [Path(__file__).resolve().parents[2] / "functions" / name for name in ("search", "shared")]
# Asks the function's own request validation which k it accepts (a child process: the function's
# modules are top-level modules, kept out of this test process).
K_PROBE = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from validation import parse_request
accepted = []
for k in json.loads(sys.argv[2]):
    try:
        parse_request(json.dumps({"key": "albums/marble/m0.png", "k": k}))
    except Exception as e:
        if getattr(e, "code", None) != "bad_k":
            raise
    else:
        accepted.append(k)
print(json.dumps(accepted))
"""


def function_accepts_k(candidates: list[int]) -> list[int]:
    """The values of k the search function's validation accepts, out of candidates."""
    proc = subprocess.run([sys.executable, "-c", K_PROBE, json.dumps([str(d) for d in FUNCTION_DIRS]),
                           json.dumps(candidates)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_page_offers_exactly_the_k_the_function_accepts(page, stub_site):
    # GIVEN the page's k range, from the one module that states it
    page.goto(stub_site.url + "#/album/marble")
    page.wait_for_selector("#k-select", timeout=TIMEOUT_MS)
    page_k = page.evaluate("""async () => {
      const m = await import("./k.js");
      return { min: m.MIN_K, max: m.MAX_K, default: m.DEFAULT_K,
               clamped: [m.clampK(m.MIN_K - 1), m.clampK(m.MAX_K + 1)] };
    }""")
    offered = list(range(page_k["min"], page_k["max"] + 1))
    # THEN the function accepts exactly that range, and the page offers and clamps to it
    assert function_accepts_k(list(range(page_k["min"] - 3, page_k["max"] + 4))) == offered
    assert page.locator("#k-select option").evaluate_all("os => os.map(o => Number(o.value))") == offered
    assert page_k["min"] <= page_k["default"] <= page_k["max"]
    assert page_k["clamped"] == [page_k["min"], page_k["max"]]
