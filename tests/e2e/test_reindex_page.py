"""The operator's re-index panel (`make demo`): in chromium against the re-index stack (its own, shared
with tests/integration/test_reindex_demo.py), and against a stubbed site for what a real run rarely
shows (a refused start, a failed run, a deployed page without the panel)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 240_000
VERSION_RE = r"\d{8}T\d{6}Z-[0-9a-f]{6}"


def index_label(page) -> str:
    return page.locator("#index-info").inner_text()


def test_reindex_from_the_page_changes_the_index_label(page, reindex_stack, output_dir):
    # GIVEN the demo's page with its operator panel, and the index label naming the live version
    page.goto(reindex_stack["url"])
    page.wait_for_selector(".album-card", timeout=60_000)
    page.wait_for_function("() => /index \\d{8}T/.test(document.querySelector('#index-info').innerText)")
    before = re.search(rf"index ({VERSION_RE})", index_label(page)).group(1)
    panel = page.locator(".operator")
    assert "Re-index" in panel.inner_text() and "local stack only" in panel.inner_text()
    # WHEN the operator presses Re-index
    page.get_by_role("button", name="Re-index").click()
    # THEN the panel follows the run: images of the total with images/s while featurizing, ...
    page.wait_for_function("() => / of \\d+ images · [\\d.]+ images\\/s/.test("
                           "document.querySelector('#reindex-counts').innerText)", timeout=TIMEOUT_MS)
    assert page.get_by_role("button", name="Re-index").is_disabled()
    page.screenshot(path=str(output_dir / "e2e-reindex-running.png"))
    # ... and "done: index <new version>", and the page's index label changes to it without a reload
    page.wait_for_function("() => document.querySelector('#reindex-status').innerText"
                           ".startsWith('done: index')", timeout=TIMEOUT_MS)
    after = re.search(rf"done: index ({VERSION_RE})", page.locator("#reindex-status").inner_text()).group(1)
    assert after != before
    page.wait_for_function(f"() => document.querySelector('#index-info').innerText.includes('index {after}')",
                           timeout=10_000)
    assert before not in index_label(page)
    assert page.get_by_role("button", name="Re-index").is_enabled()
    text = page.evaluate("document.body.innerText")
    assert not re.search(r"\bnull\b|undefined|NaN|\[object", text), text
    page.screenshot(path=str(output_dir / "e2e-reindex-done.png"), full_page=True)
    assert not page.errors and not page.csp_violations


# --- against a stubbed site ------------------------------------------------------------------------------


def offer_reindex(page, progress: list[dict], start: tuple[int, dict]) -> list[str]:
    """config.js with localReindex; GET /local/reindex answers the next of `progress` (the last one
    repeats), POST answers `start`. Returns the methods the page sent, in order."""
    sent: list[str] = []
    body = "export default " + json.dumps({"apiUrl": "/api", "localReindex": "/local/reindex"}) + ";\n"
    page.route("**/config.js", lambda route: route.fulfill(body=body, content_type="text/javascript"))

    def answer(route):
        sent.append(route.request.method)
        if route.request.method == "POST":
            route.fulfill(status=start[0], json=start[1])
        else:
            route.fulfill(json=progress.pop(0) if len(progress) > 1 else progress[0])

    page.route("**/local/reindex", answer)
    return sent


def progress(state: str, **fields) -> dict:
    return {"state": state, "phase": "", "run": None, "done": 0, "total": None, "images_per_s": None,
            "eta_s": None, "elapsed_s": None, "previous_version": "v-stub", "version": None,
            "daemon_version": None, "error": None, **fields}


def test_a_refused_start_is_shown_and_the_running_one_followed(page, stub_site, output_dir):
    running = progress("running", phase="featurizing", run="r1", done=8, total=20, images_per_s=4.0,
                       eta_s=3.0)
    refused = {"error": {"code": "busy", "message": "a re-index is already running (featurizing, 8 of 20 "
                         "images); wait for it to finish"}, "progress": running}
    offer_reindex(page, [progress("idle"), running], (409, refused))
    page.goto(stub_site.url)
    page.wait_for_selector("#reindex-start")
    page.locator("#reindex-start").click()
    page.wait_for_selector("#reindex-error:not([hidden])")
    assert page.locator("#reindex-error").inner_text().startswith("A re-index is already running (")
    page.wait_for_function("() => document.querySelector('#reindex-counts').innerText"
                           " === '8 of 20 images · 4.0 images/s · about 3 s left'")
    assert page.locator("#reindex-status").inner_text() == "Featurizing…"
    assert page.locator("#reindex-start").is_disabled()
    assert page.locator("#reindex-error").is_visible()  # kept while that run goes on
    # At phone width the panel wraps and keeps every part readable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(output_dir / "e2e-reindex-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.errors


def test_a_failed_run_is_shown_with_its_reason(page, stub_site, output_dir):
    failed = progress("failed", phase="featurizing", run="r1", done=4, total=20,
                      error="re-index failed (internal): a batch failed every delivery and is in the "
                            "featurize dead-letter queue (the function's error is in the stack's output)")
    sent = offer_reindex(page, [progress("running", phase="starting"), failed], (202, progress("running")))
    page.goto(stub_site.url)
    page.wait_for_selector("#reindex-start")
    page.locator("#reindex-start").click()
    page.wait_for_selector("#reindex-error:not([hidden])", timeout=10_000)
    reason = page.locator("#reindex-error").inner_text()
    assert reason.startswith("Re-index failed (internal): a batch failed every delivery")
    assert page.locator("#reindex-status").inner_text() == "The re-index stopped."
    assert page.locator("#reindex-start").is_enabled()  # another run may be tried
    assert "index v-stub" in page.locator("#index-info").inner_text()  # the label did not change
    assert sent[0] == "GET" and "POST" in sent
    page.screenshot(path=str(output_dir / "e2e-reindex-failed.png"))
    assert not page.errors


def test_an_unreachable_stack_is_shown(page, stub_site):
    offer_reindex(page, [progress("idle")], (202, progress("running")))
    page.route("**/local/reindex", lambda route: route.abort() if route.request.method == "POST"
               else route.fulfill(json=progress("idle")))
    page.goto(stub_site.url)
    page.wait_for_selector("#reindex-start")
    page.locator("#reindex-start").click()
    page.wait_for_selector("#reindex-error:not([hidden])")
    assert page.locator("#reindex-error").inner_text().startswith("Could not reach the local re-index")
    assert page.locator("#reindex-status").inner_text() == "The re-index did not start."
    assert page.locator("#reindex-start").is_enabled()


def test_a_page_without_localreindex_has_no_panel(page, stub_site):
    # A deployed page's config.js names the API only (publish writes nothing else).
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card")
    assert page.locator(".operator").count() == 0
    assert "local/reindex" not in " ".join(stub_site.requested)
