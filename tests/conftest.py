"""Fixtures shared by the integration and e2e tests: one local stack for the whole session.

The stack starts when the first test that needs it runs and stops at the end of the session; the
integration and e2e tests share it. In one process the unit tests run first (pyproject's testpaths),
so the stack never idles through them. Under pytest-xdist (`make test`) each worker is a session of
its own, and the modules that use the session's stack are one unit of work (SHARED_UNITS below), so
one worker starts it, in a work dir of its own. Tests that change what every other test sees (the
gallery's ingest, a re-index) start one of their own with `stack_factory`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """One botocore data loader per test process (devstack.s3server.share_service_models): moto starts
    every test on a new default session, which read the service models again."""
    try:
        from devstack.s3server import share_service_models
    except ImportError:  # the functions' runtime venv (make test-runtime) has no devstack
        return
    share_service_models()


# --- units of work for pytest-xdist ------------------------------------------------------------------

# Modules that share a session fixture costly to start run on one worker together, as one unit: the
# session's local stack (the unit's tests take about 160 s, two thirds of a worker's run), with the
# browser's other modules; and the re-index stack. A module using either stack must be listed here
# (pytest_collection_modifyitems checks it), else its worker would start another stack.
SHARED_UNITS = {
    "tests/integration/test_stack.py": "local_stack",
    "tests/integration/test_result_cache.py": "local_stack",
    "tests/integration/test_smoke.py": "local_stack",
    "tests/integration/test_uploads.py": "local_stack",
    "tests/e2e/test_page.py": "local_stack",
    "tests/e2e/test_album_weight.py": "local_stack",
    "tests/e2e/test_upload.py": "local_stack",
    "tests/e2e/test_duplicates_page.py": "local_stack",
    "tests/e2e/test_page_albums.py": "local_stack",  # the browser only
    "tests/e2e/test_page_modules.py": "local_stack",  # the browser only
    "tests/integration/test_reindex_demo.py": "reindex_stack",
    "tests/e2e/test_reindex_page.py": "reindex_stack",
}
# The units that took longest (wall seconds on three workers), longest first: they are handed out
# first, so none of them starts near the end and keeps one worker busy alone. Only the order of the
# run depends on this list; the other units follow in xdist's order (most tests first).
LONGEST_UNITS = [
    "local_stack",  # 160
    "tests/unit/engine/test_instance_memory.py",  # 57
    "tests/integration/test_ingest.py",  # 46 (a stack of its own)
    "tests/integration/test_publish_weights.py",  # 42
    "reindex_stack",  # 40
    "tests/integration/test_publish.py",  # 37
    "tests/unit/template/test_linters.py",  # 33
    "tests/unit/agent/test_wheelhouse.py",  # 33
    "tests/unit/agent/test_daemon.py",  # 33
    "tests/integration/test_demo_weights.py",  # 24 (a stack of its own)
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """SHARED_UNITS stays true: a test using a stack fixture is in that stack's unit."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        for fixture in ("local_stack", "reindex_stack"):
            if fixture in item.fixturenames and SHARED_UNITS.get(module) != fixture:
                raise pytest.UsageError(f"{item.nodeid} uses {fixture}: list {module} under it in "
                                        "SHARED_UNITS (tests/conftest.py)")


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: none without it
def pytest_xdist_make_scheduler(config, log):
    """With `--dist loadscope`: pytest-xdist's module-per-unit scheduling, with the SHARED_UNITS
    modules as one unit each and the LONGEST_UNITS first. (xdist's `xdist_group` mark would say the
    former per test, but pytest 9.2 no longer lets xdist 3.8 rename the tests it groups, so the mark
    has no effect.)"""
    if config.getvalue("dist") != "loadscope":
        return None  # another --dist: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    missing = [module for module in [*SHARED_UNITS, *LONGEST_UNITS]
               if module.endswith(".py") and not (REPO / module).is_file()]
    assert not missing, f"tests/conftest.py names modules that do not exist: {missing}"
    rank = {unit: place for place, unit in enumerate(LONGEST_UNITS)}

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_UNITS.get(module, module)

        def _assign_work_unit(self, node) -> None:
            # xdist hands out the queue's first unit: put the longest one left there.
            longest = min(self.workqueue, key=lambda unit: rank.get(unit, len(rank)))
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return Units(config, log)


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
