"""Integration fixtures."""

from __future__ import annotations

import pytest

from ..conftest import REPO, STACK_COUNT, STACK_WORK_DIR, TEST_OUTPUT  # noqa: F401 (used by tests)

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
