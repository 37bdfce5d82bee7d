"""The page's modules do what their names say, shown by running them in chromium (no local stack).

Each test drives site/ from the repo (the `stub_site` fixture) and watches what the code does:
which module reaches the network, whether anything builds markup from strings, what config.js
exports. None of them reads the source text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SITE = Path(__file__).resolve().parents[2] / "site"
TIMEOUT_MS = 30_000

# Chromium enforces these: a string assigned to innerHTML/outerHTML, insertAdjacentHTML or
# document.write throws (Trusted Types), and eval/new Function are refused (no 'unsafe-eval').
STRICT_CSP = ("default-src 'self'; script-src 'self'; img-src 'self'; style-src 'self'; "
              "require-trusted-types-for 'script'; trusted-types 'none'")

# Installed before any page script: records every policy violation, and every network call made
# from script (fetch, XMLHttpRequest, sendBeacon, WebSocket, EventSource) with the stack that made it.
WATCH_SCRIPT = """
(() => {
  window.__violations = [];
  document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
  window.__netCalls = [];
  const record = (what, target) =>
    window.__netCalls.push({ what, target: String(target), stack: new Error().stack });
  const realFetch = window.fetch;
  window.fetch = function (input, init) {
    record("fetch", input && input.url ? input.url : input);
    return realFetch.call(this, input, init);
  };
  const realOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    record("xhr", url);
    return realOpen.call(this, method, url, ...rest);
  };
  const realBeacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => { record("beacon", url); return realBeacon(url, data); };
  for (const name of ["WebSocket", "EventSource"]) {
    const Real = window[name];
    window[name] = function (url, ...rest) { record(name, url); return new Real(url, ...rest); };
  }
})();
"""

# The first frame of a stack that belongs to one of the site's modules, e.g. "api.js".
MODULE_FRAME = re.compile(r"https?://[^/\s]+/([\w.-]+\.js):\d+:\d+")


def caller_module(stack: str) -> str | None:
    """The site module that made a recorded call (the watcher's own frames have no http URL)."""
    match = MODULE_FRAME.search(stack)
    return match.group(1) if match else None


def walk_every_screen(page, stub_site) -> None:
    """Home, an album, a search with its answer (one match not copied), a failed search, a missing page."""
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    page.locator(".album-card").first.click()
    page.wait_for_selector(".image-grid .thumb", timeout=TIMEOUT_MS)
    page.select_option("#k-select", "3")
    page.locator(".image-grid .thumb").first.click()
    page.wait_for_selector(".results .result", timeout=TIMEOUT_MS)
    stub_site.search = lambda body: (503, {"error": {"code": "no_instance", "message": "<b>no</b> instance"}})
    page.click("text=Search again")
    page.wait_for_selector('.error[data-kind="answer"]', timeout=TIMEOUT_MS)
    page.goto(stub_site.url + "#/nowhere")
    page.wait_for_selector('.error[data-kind="not_found"]', timeout=TIMEOUT_MS)


def test_the_modules_have_one_job_each():
    modules = {p.name for p in SITE.glob("*.js")}
    assert modules == {"api.js", "views.js", "view_parts.js", "album_view.js", "app.js", "main.js",
                       "config.js", "k.js", "urls.js", "upload_file.js",
                       "bands.js", "duplicates.js",  # issue 23: score bands, the Duplicates view
                       "reindex_panel.js", "reindex_control.js"}  # issue 25: the local stack's re-index


def test_only_api_js_reaches_the_network(page, stub_site):
    # (Was: "fetch" not in views.js, "fetch(" not in app.js.)
    # GIVEN every network call recorded with the stack that made it
    page.add_init_script(WATCH_SCRIPT)
    # WHEN a user goes through every screen
    walk_every_screen(page, stub_site)
    calls = page.evaluate("window.__netCalls")
    # THEN the album list, the album's listing page and both searches went out, each made by api.js
    # and by no other module
    targets = [c["target"] for c in calls]
    assert targets.count("albums.json") == 1 and sum(t.endswith("/search") for t in targets) == 2, targets
    assert targets.count("listings/marble/1.json") == 1, targets
    assert {c["what"] for c in calls} == {"fetch"}
    assert [caller_module(c["stack"]) for c in calls] == ["api.js"] * len(calls), [c["stack"] for c in calls]
    assert not page.errors


def test_the_controller_runs_against_stubs_without_the_network(page, stub_site):
    # app.js takes its api and views, so it can be driven with stubs in the browser; with the
    # browser's own fetch made to throw, it still runs: the controller never calls the network itself.
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    result = page.evaluate("""async () => {
      const { createApp, parseRoute } = await import("./app.js");
      const { clampK } = await import("./k.js");
      const calls = [];
      const netCalls = [];
      const realFetch = window.fetch;
      window.fetch = (...args) => { netCalls.push(String(args[0])); throw new Error("no network here"); };
      const XHR = window.XMLHttpRequest;
      window.XMLHttpRequest = function () { netCalls.push("xhr"); throw new Error("no network here"); };
      try {
        const api = {
          albums: async () => ({ albums: [{ name: "a", cover: "", count: 1, images: ["albums/a/x.png"] }],
                                 index: { pretrained: false } }),
          search: async (key, k) => {
            calls.push(["search", key, k]);
            throw Object.assign(new Error("boom"), { kind: "answer", status: 502 });
          },
        };
        const views = new Proxy({}, {
          get: (_, name) => (...args) => calls.push([name, ...args.slice(0, 3)]) });
        const win = { location: { hash: "#/album/a/x.png?k=7" }, addEventListener: () => {} };
        await createApp({ api, views, win }).start();
      } finally {
        window.fetch = realFetch;
        window.XMLHttpRequest = XHR;
      }
      return {
        calls: calls.map((c) => c.map((v) => (v && typeof v === "object" ? (v.message || "obj") : v))),
        netCalls,
        routes: [parseRoute("#/"), parseRoute("#/album/m"), parseRoute("#/album/m/f.png?k=99"),
                 parseRoute("#/album/%E0%A4%A"), parseRoute("#/other")],
        ks: [clampK("3"), clampK("0"), clampK("x"), clampK(42)],
      };
    }""")
    names = [c[0] for c in result["calls"]]
    assert names == ["showLoading", "setIndexInfo", "showQuery", "showSearching", "search", "showSearchError"]
    assert result["calls"][4] == ["search", "gallery/a/x.png", 7]
    assert result["calls"][5][1] == "boom"
    assert result["netCalls"] == []
    assert result["routes"] == [{"name": "home"}, {"name": "album", "album": "m"},
                                {"name": "image", "album": "m", "file": "f.png", "k": 10},
                                {"name": "unknown"}, {"name": "unknown"}]
    assert result["ks"] == [3, 1, 5, 10]


def test_the_views_render_every_screen_without_the_network(page, stub_site):
    # (Was: "fetch" not in views.js.) Every screen is rendered into a detached document while any
    # script-made network call throws and is counted; images in a detached document never load.
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    result = page.evaluate("""async () => {
      const { createViews } = await import("./views.js");
      const netCalls = [];
      const realFetch = window.fetch;
      window.fetch = (...args) => { netCalls.push(String(args[0])); throw new Error("no network here"); };
      try {
        const doc = document.implementation.createHTMLDocument("views");
        const main = doc.createElement("main");
        const indexInfo = doc.createElement("p");
        doc.body.append(indexInfo, main);
        const views = createViews({ doc, main, indexInfo });
        const album = { name: "a", cover: "gallery/a/x.png", count: 2, skipped: 1, pages: 1 };
        const screens = [];
        views.setIndexInfo({ count: 2, mode: "lsh", pretrained: false });
        views.showLoading("Loading");
        views.showHome([album]);
        screens.push(main.querySelectorAll(".album-card").length);
        views.showAlbum(album, 5, { onK: () => {}, onMore: () => {} });
        views.addAlbumTiles("a", ["gallery/a/x.png", "gallery/a/y.png"], 5);
        views.setAlbumProgress({ shown: 2, total: 2 });
        screens.push(main.querySelectorAll(".thumb").length);
        views.showQuery("a", "gallery/a/x.png", 2, { onK: () => {}, onSearch: () => {} }, "previews/a/x.png");
        views.showSearching(2);
        views.showAnswer({
          results: [{ key: "results/gallery/a/y.png", url: "results/gallery/a/y.png", score: 0.5 },
                    { key: "results/gallery/a/z.png", url: null, score: 0.4, error: "copy_failed" }],
          timings_ms: { total: 10 }, path: "warm" });
        screens.push(main.querySelectorAll(".result").length);
        views.showSearchError({ kind: "timeout", message: "slow" }, { retry: () => {} });
        views.showError({ kind: "not_found", message: "gone" }, {});
        screens.push(main.querySelectorAll(".error").length);
        return { netCalls, screens };
      } finally {
        window.fetch = realFetch;
      }
    }""")
    assert result == {"netCalls": [], "screens": [1, 2, 2, 1]}


def test_the_api_client_never_touches_the_dom(page, stub_site):
    # (Was: "createElement" not in api.js.) Every path of the client runs with DOM creation spied on
    # and the document observed: successes, an error answer, a non-JSON answer, a network failure.
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    result = page.evaluate("""async () => {
      const { createApi } = await import("./api.js");
      const domCalls = [];
      const spied = [];
      const names = ["createElement", "createElementNS", "createTextNode", "createDocumentFragment", "write"];
      for (const name of names) {
        const real = Document.prototype[name];
        Document.prototype[name] = function (...args) { domCalls.push(name); return real.apply(this, args); };
        spied.push([name, real]);
      }
      const mutations = [];
      const observer = new MutationObserver((records) => mutations.push(...records.map((r) => r.type)));
      observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      const json = (status, body) => async () => new Response(JSON.stringify(body), { status });
      const outcomes = [];
      try {
        const answers = [
          json(200, { albums: [] }),
          json(200, { results: [] }),
          json(404, { error: { code: "not_found", message: "gone" } }),
          async () => new Response("<html>", { status: 200 }),
          async () => { throw new TypeError("Failed to fetch"); },
        ];
        for (const fetchImpl of answers) {
          const api = createApi({ apiUrl: "/api/", fetchImpl });
          try {
            await (outcomes.length === 0 ? api.albums() : api.search("albums/a/x.png", 3));
            outcomes.push("ok");
          } catch (error) {
            outcomes.push(error.kind);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      } finally {
        observer.disconnect();
        for (const [name, real] of spied) Document.prototype[name] = real;
      }
      return { domCalls, mutations, outcomes };
    }""")
    assert result == {"domCalls": [], "mutations": [],
                      "outcomes": ["ok", "ok", "answer", "bad_response", "unreachable"]}


def test_the_page_builds_no_markup_from_strings(page, make_stub_site):
    # (Was: no innerHTML/outerHTML/insertAdjacentHTML/document.write/eval(/new Function in the source.)
    # GIVEN the page served with a policy under which chromium refuses every one of those sinks,
    # and an album whose name is markup
    stub_site = make_stub_site(page, headers={"Content-Security-Policy": STRICT_CSP})
    hostile = "<img src=x onerror=window.pwned=1>"
    albums = stub_site.albums
    stub_site.albums = {**albums, "albums": [albums["albums"][0], {
        "name": hostile, "cover": "", "count": 0, "images": []}]}
    page.add_init_script(WATCH_SCRIPT)
    # WHEN a user goes through every screen
    walk_every_screen(page, stub_site)
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    # THEN nothing was refused, nothing threw, and the hostile name is text
    assert page.evaluate("window.__violations") == []
    assert not page.errors
    assert hostile in page.locator(".album-list").inner_text()
    assert page.evaluate("window.pwned") is None
    # and the policy really is enforced: the same sinks used on purpose by a page task are refused
    # (a task of its own: code run by page.evaluate itself is allowed to eval by the DevTools protocol)
    page.evaluate("""() => setTimeout(() => {
      const tries = {
        innerHTML: () => { document.createElement("div").innerHTML = "<b>x</b>"; },
        insertAdjacentHTML: () => { document.body.insertAdjacentHTML("beforeend", "<b>x</b>"); },
        write: () => { document.write("<b>x</b>"); },
        eval: () => { window.eval("1 + 1"); },
        Function: () => { new Function("return 1")(); },
      };
      const refusedBy = ([, run]) => { try { run(); return false; } catch { return true; } };
      window.__refused = Object.entries(tries).filter(refusedBy).map(([name]) => name);
    }, 0)""")
    refused = page.wait_for_function("window.__refused").json_value()
    assert refused == ["innerHTML", "insertAdjacentHTML", "write", "eval", "Function"]


def test_dev_config_points_at_the_local_api(page, stub_site):
    # config.js is an ES module whose default export names the API (docs/contracts.md, "Site").
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    assert page.evaluate('async () => ({ ...(await import("./config.js")).default })') == {"apiUrl": "/api"}


def test_index_loads_main_as_a_module_and_fits_a_phone(browser, make_stub_site):
    # main.js uses import statements, so the page only renders when index.html loads it as a module;
    # a phone lays the page out at its own width only with a width=device-width viewport.
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        stub_site = make_stub_site(page)
        page.goto(stub_site.url)
        page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
        assert page.evaluate("window.innerWidth") == 375
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_the_index_label_follows_the_weights(page, stub_site):
    # Seeded weights get the demo badge; any other file shows its label (its hash), never the badge.
    page.goto(stub_site.url)
    page.wait_for_selector(".album-card", timeout=TIMEOUT_MS)
    result = page.evaluate("""async () => {
      const { createViews } = await import("./views.js");
      const doc = document.implementation.createHTMLDocument("views");
      const main = doc.createElement("main");
      const indexInfo = doc.createElement("p");
      doc.body.append(indexInfo, main);
      const views = createViews({ doc, main, indexInfo });
      const shown = (index) => { views.setIndexInfo(index); return indexInfo.textContent; };
      return [
        shown({ count: 2, mode: "lsh", pretrained: false, demo: true,
                weights_label: "demo weights, not pretrained (seed:0)" }),
        shown({ count: 2, mode: "lsh", pretrained: false, demo: false,
                weights_label: "weights file sha256 abcdef012345, not known to be pretrained" }),
        shown({ count: 2, mode: "lsh", pretrained: true, demo: false,
                weights_label: "pretrained ImageNet weights (sha256 0123456789ab)" }),
      ];
    }""")
    assert result[0] == "demo weights, not pretrained2 images indexed · lsh index"
    assert "demo weights" not in result[1] and "abcdef012345" in result[1]
    assert result[2].endswith("pretrained ImageNet weights (sha256 0123456789ab)")
