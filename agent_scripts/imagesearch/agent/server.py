"""The daemon's Unix socket server: a thread per connection, a cap on connections, line limits.

Each connection carries newline-delimited JSON requests (imagesearch.agent.protocol); the lines go to
the Daemon, which never raises, and its answers go back one per line.
"""

from __future__ import annotations

import os
import socket
import socketserver
import stat
import threading
import time
from typing import TYPE_CHECKING

from imagesearch.agent.protocol import encode
from imagesearch.errors import SearchError

if TYPE_CHECKING:
    from imagesearch.agent.daemon import Daemon


class LineReader:
    """Request lines from a socket, each within a total deadline (a per-read timeout let a client
    sending one byte every few seconds hold a connection slot for ever)."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self._buf = bytearray()

    def readline(self, seconds: float) -> bytes:
        """The next line with its newline; what is left at EOF (b"" when nothing); more than
        `limit` bytes when the line is too long. TimeoutError when `seconds` pass first."""
        deadline = time.monotonic() + seconds
        while True:
            end = self._buf.find(b"\n")
            if end >= 0 or len(self._buf) > self.limit:
                cut = end + 1 if end >= 0 else len(self._buf)
                line = bytes(self._buf[:cut])
                del self._buf[:cut]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request not complete within its deadline")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                line = bytes(self._buf)
                self._buf.clear()
                return line
            self._buf += chunk


class _Handler(socketserver.StreamRequestHandler):
    """One connection: read request lines until EOF, a request's deadline or an oversized line."""

    server: DaemonServer

    def handle(self) -> None:
        daemon = self.server.daemon
        if not self.server.slots.acquire(blocking=False):
            busy = SearchError("internal", "daemon busy: too many connections, retry").to_json()
            busy["retry"] = True  # the thin client retries until its deadline instead of failing
            self._send(busy)
            return
        try:
            self.connection.settimeout(daemon.config.conn_timeout)  # for writes
            limit = daemon.config.max_request_bytes
            reader = LineReader(self.connection, limit)
            while True:
                try:
                    # The whole request line (idle wait included) must arrive within conn_timeout.
                    line = reader.readline(daemon.config.conn_timeout)
                except (TimeoutError, ConnectionError):
                    return
                if not line:
                    return
                if len(line) > limit:
                    # The rest of the line is unread, so the stream cannot be resynchronised: answer, close.
                    self._send(SearchError("bad_request",
                                           f"request line longer than {limit} bytes").to_json())
                    return
                if not line.strip():
                    continue
                if not self._send(daemon.handle_line(line)):
                    return
        finally:
            self.server.slots.release()

    def _send(self, answer: dict) -> bool:
        try:
            self.wfile.write(encode(answer))
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionError, TimeoutError):
            return False  # the client went away; nothing to answer


class DaemonServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Unix stream server with one thread per connection and a cap on concurrent connections."""

    daemon_threads = True
    block_on_close = False
    # A burst of SSM commands connects at once; a full backlog makes connect() fail with EAGAIN.
    request_queue_size = 256

    def __init__(self, daemon: Daemon, socket_path: str) -> None:
        self.daemon = daemon
        self.slots = threading.BoundedSemaphore(daemon.config.max_connections)
        self.socket_path = socket_path
        remove_stale_socket(socket_path)
        old_umask = os.umask(0o117)  # socket file rw for owner and group only (root bypasses this)
        try:
            super().__init__(socket_path, _Handler)
        finally:
            os.umask(old_umask)
        self._thread: threading.Thread | None = None

    def start(self) -> DaemonServer:
        """Serve in a background thread (tests and `serve` both use this)."""
        self._thread = threading.Thread(target=self.serve_forever, name="imagesearch-accept", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, close the socket and remove its file."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass


def remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a crashed daemon; refuse to steal one that is still answered."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SearchError("internal", f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    finally:
        probe.close()
    raise SearchError("internal", f"another daemon is already listening on {path}")
