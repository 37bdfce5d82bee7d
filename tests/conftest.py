"""Fixtures shared by the integration and e2e tests: one local stack for the whole session.

The stack starts when the first test that needs it runs and stops at the end of the session; the
integration and e2e tests share it. In one process the unit tests run first (pyproject's testpaths),
so the stack never idles through them. Under pytest-xdist (`make test`) each worker is a session of
its own: a worker that gets a stack test starts its own stack, in a work dir of its own, so the
stack tests spread over both workers (kept on one, they were the suite's critical path: about 500 s
against 300 for everything else). Tests that change what every other test sees (the gallery's
ingest) start one of their own with `stack_factory`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# --- the running local stack (devstack) -------------------------------------------------------------
# One `python -m devstack` child per session on a free port, with a small generated collection. The
# work dir is kept under .demo/ so the samples and the index are reused between runs.

REPO = TESTS.parent
STACK_COUNT = 64
# One per pytest-xdist worker (gw0, gw1, ...): its stacks reuse its samples and index between runs.
STACK_WORK_DIR = REPO / ".demo" / "tests" / os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_OUTPUT = REPO / "test-output"


def new_stack(name: str, *args: str):
    """A devstack child on a free port with the test collection (not started yet)."""
    from devstack.launcher import StackProcess

    return StackProcess("--count", str(STACK_COUNT), *args, work_dir=STACK_WORK_DIR,
                        log_path=TEST_OUTPUT / f"devstack-{name}.log")


@pytest.fixture(scope="session")
def stack_factory():
    """new_stack, for tests that need a stack of their own (shutdown, smoke)."""
    return new_stack


@pytest.fixture(scope="session")
def reindex_stack(stack_factory) -> dict:
    """A stack of its own for the page's re-index (a re-index changes the live version every other
    test of the shared stack sees): a small collection in batches of 4, shared by the re-index's
    integration and e2e tests (tests/integration/test_reindex_demo.py, tests/e2e/test_reindex_page.py)."""
    stack = stack_factory("reindex", "--count", "16", "--reindex-batch", "4")
    stack.start()
    yield stack.info
    code = stack.stop()
    assert code == 0, f"devstack did not stop cleanly (exit {code}):\n{stack.log_tail()}"


@pytest.fixture(scope="session")
def local_stack() -> dict:
    """The running stack's addresses: url, api, s3_endpoint, site_bucket, gallery_bucket, ..."""
    stack = new_stack("session")
    stack.start()
    yield stack.info
    # The session's end is also the shutdown test (it had a stack of its own): SIGTERM stops the
    # stack cleanly and leaves none of its processes (daemon, function containers) behind.
    children = _children(stack.proc.pid)
    assert children, "the daemon runs as a child process"
    code = stack.stop()
    assert code == 0, f"devstack did not stop cleanly (exit {code}):\n{stack.log_tail()}"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "processes left after the stack stopped"


def _children(pid: int) -> set[int]:
    """Every descendant of pid (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = {int(p) for p in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def stack_s3(local_stack):
    """An S3 client for the stack's moto server."""
    from devstack.s3server import client

    return client("s3", local_stack["s3_endpoint"])


@pytest.fixture(scope="session")
def album_keys(local_stack) -> list[str]:
    """Every listed image (albums.json and its album pages), album by album, as `albums/<a>/<f>` keys."""
    from publish.smoke import album_keys as listed

    return listed(local_stack["url"], 30.0)


