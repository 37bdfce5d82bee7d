"""Unit tests run with no network: TCP and UDP sockets are refused, Unix sockets allowed."""

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
