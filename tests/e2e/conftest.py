"""E2E fixtures: the local stack as a child process and Debian's chromium driven by Playwright."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = REPO / "test-output"
STACK_COUNT = 64
STACK_WORK_DIR = REPO / ".demo" / "tests"  # shared with the integration tests: samples and index reused
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's chromium; Playwright never downloads a browser here (`make test` installs this one)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.fail("chromium is not installed: run `make system-deps` (apt-get install chromium)")


@pytest.fixture(scope="session")
def stack() -> dict:
    """The running local stack (url, api, buckets, ...)."""
    from devstack.launcher import StackProcess

    proc = StackProcess("--count", str(STACK_COUNT), work_dir=STACK_WORK_DIR,
                        log_path=TEST_OUTPUT / "devstack-e2e.log")
    proc.start()
    yield proc.info
    proc.stop()


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
