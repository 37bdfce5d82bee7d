"""E2E fixtures: the local stack as a child process and Debian's chromium driven by Playwright."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from ..conftest import REPO, TEST_OUTPUT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's chromium-headless-shell, else its chromium; Playwright never downloads a browser here
    (`make test` installs them). The shell is the same Chromium build in the old headless mode (what
    Playwright's own headless runs use) and takes under half the CPU of chromium's full headless browser."""
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: run `make system-deps` (apt-get install chromium)")


@pytest.fixture(scope="session")
def stack(local_stack) -> dict:
    """The session's running local stack (url, api, buckets, ...), shared with the integration tests."""
    return local_stack


@pytest.fixture(scope="session")
def browser():
    """Headless chromium for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh page at desktop size; console errors are collected in page.errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    # What the Content-Security-Policy blocked (chromium reports each refusal on the console).
    pg.csp_violations = []
    pg.on("console", lambda m: pg.csp_violations.append(m.text)
          if "Content Security Policy" in m.text else None)
    yield pg
    context.close()


@pytest.fixture()
def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def silent_port():
    """A loopback port that accepts connections and never answers (a hung API)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where screenshots go (gitignored)."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


# --- the page on its own: site/ served from the repo with a stubbed API -------------------------

SITE_DIR = REPO / "site"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
STUB_ALBUMS = {
    "albums": [
        {"name": "marble", "cover": "gallery/marble/m0.png", "count": 3, "skipped": 0, "pages": 1,
         "page_size": 100},
        {"name": "wood", "cover": "gallery/wood/w0.png", "count": 1, "skipped": 2, "pages": 1,
         "page_size": 100},
    ],
    "index": {"version": "v-stub", "count": 4, "mode": "lsh", "pretrained": False, "weights_label": "seed:0"},
}


def listing_page(album: str, files: list[str], page: int = 1) -> dict:
    """One listings/<album>/<page>.json for the given files, made by the listing's own writer."""
    from site_albums.pages import album_pages

    rows = [{"key": f"gallery/{album}/{name}", "sha256": "0" * 64, "width": 8, "height": 8, "bytes": 100}
            for name in files]
    return album_pages(album, rows)[page - 1]


STUB_LISTINGS = {
    "listings/marble/1.json": listing_page("marble", ["m0.png", "m1.png", "m2.png"]),
    "listings/wood/1.json": listing_page("wood", ["w0.png"]),
}


def stub_answer(key: str, k: int) -> dict:
    """A successful API answer shaped as docs/contracts.md ("HTTP API") says, k matches from marble."""
    results = [{"key": f"results/gallery/marble/m{i}.png", "url": f"results/gallery/marble/m{i}.png",
                "score": round(0.9 - i / 100, 3)} for i in range(k)]
    return {"query": {"key": key, "url": key}, "results": results,
            "timings_ms": {"ssm_send": 40.0, "ssm_wait": 180.0, "search": 12.0, "copy": 30.0, "total": 260.0},
            "request_id": "req-stub", "index": STUB_ALBUMS["index"], "path": "warm"}


def png_bytes(color: tuple[int, int, int] = (90, 140, 200)) -> bytes:
    """A small valid PNG, so every image the stub site serves decodes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def form_parts(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """A multipart/form-data body as {field name: (part content type, bytes)}."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    return {part.get_param("name", header="content-disposition"): (part.get_content_type(),
                                                                  part.get_payload(decode=True))
            for part in message.iter_parts()}


class StubSite:
    """The repo's site/ at a loopback origin, with albums.json, listing pages, images, POST /api/search,
    POST /api/uploads and the upload form's POST stubbed.

    Everything is answered by Playwright routes inside the browser; nothing listens on the port.
    `search` maps a request body to (status, answer); every body the page sent is in `searches`.
    """

    def __init__(self, page, port: int, headers: dict[str, str] | None = None):
        self.url = f"http://127.0.0.1:{port}/"
        self.headers = headers or {}
        self.albums = STUB_ALBUMS
        self.listings = dict(STUB_LISTINGS)  # path -> JSON; a missing path answers 404 as S3 would
        self.uploads: list[dict[str, tuple[str, bytes]]] = []  # each posted form: name -> (type, bytes)
        self.requested: list[str] = []  # every path the page asked for, in order
        self.search = lambda body: (200, stub_answer(body.get("key") or f"uploads/{body.get('upload')}",
                                                     body["k"]))
        self.searches: list[dict] = []
        self._png = png_bytes()
        page.route(self.url + "**", self._answer)

    def _answer(self, route) -> None:
        request = route.request
        path = request.url[len(self.url):].split("?", 1)[0].split("#", 1)[0]
        self.requested.append(path)
        if path == "api/uploads" and request.method == "POST":
            route.fulfill(json={"upload_id": f"u{len(self.uploads)}", "url": self.url + "upload-bucket",
                                "fields": {"key": f"uploads/u{len(self.uploads)}"},
                                "max_bytes": 10 * 1024 * 1024, "expires_in": 300})
        elif path == "upload-bucket" and request.method == "POST":
            self.uploads.append(form_parts(request.headers["content-type"], request.post_data_buffer))
            route.fulfill(status=204, body="")
        elif path == "api/search" and request.method == "POST":
            body = request.post_data_json
            self.searches.append(body)
            status, answer = self.search(body)
            route.fulfill(status=status, json=answer)
        elif path == "albums.json":
            route.fulfill(json=self.albums)
        elif path.startswith("listings/"):
            if path in self.listings:
                route.fulfill(json=self.listings[path])
            else:
                route.fulfill(status=404, body="<Error><Code>NoSuchKey</Code></Error>",
                              content_type="application/xml")
        elif path.startswith(("thumbs/", "previews/", "results/")) and path.endswith(".png"):
            route.fulfill(body=self._png, content_type="image/png")
        else:
            file = SITE_DIR / (path or "index.html")
            if file.parent != SITE_DIR or not file.is_file():
                route.fulfill(status=404, body="not found", content_type="text/plain")
                return
            route.fulfill(body=file.read_bytes(), headers={
                "Content-Type": CONTENT_TYPES.get(file.suffix, "application/octet-stream"), **self.headers})


@pytest.fixture()
def make_stub_site(dead_port):
    """Serve the stub site into a given page, optionally with extra response headers on site files."""
    return lambda page, headers=None: StubSite(page, dead_port, headers)


@pytest.fixture()
def stub_site(page, make_stub_site) -> StubSite:
    """The page from the repo's site/ against a stubbed API (no local stack needed)."""
    return make_stub_site(page)
