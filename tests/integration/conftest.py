"""Integration fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- the running local stack (devstack) -------------------------------------------------------------
# One `python -m devstack` child per session on a free port, with a small generated collection. The
# work dir is kept under .demo/ so the samples and the index are reused between runs.

REPO = Path(__file__).resolve().parents[2]
STACK_COUNT = 64
STACK_WORK_DIR = REPO / ".demo" / "tests"
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
def local_stack() -> dict:
    """The running stack's addresses: url, api, s3_endpoint, site_bucket, gallery_bucket, ..."""
    stack = new_stack("integration")
    stack.start()
    yield stack.info
    code = stack.stop()
    assert code == 0, f"devstack did not stop cleanly (exit {code}):\n{stack.log_tail()}"


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


# --- a bare moto server (publish tests) ----------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> str:
    """A moto server (every AWS service) on 127.0.0.1 and a free port; yields its endpoint URL."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
