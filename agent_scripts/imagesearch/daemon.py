"""The warm search daemon: one model and one live index version in memory, served over a Unix socket.

Requests and answers are newline-delimited JSON (imagesearch.protocol). Each connection gets a
thread; queries for images already in the index never wait for the featurizer, which runs on one
model thread because MXNet is not thread-safe. A poller follows the index pointer and swaps versions with
a single reference assignment once the new version is fully open; a broken version is refused and
the old one keeps serving.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.protocol import Request, encode, parse_request

log = logging.getLogger("imagesearch.daemon")

# How long a poll leaves a refused version alone before trying it again.
REFUSED_RETRY_SECONDS = 300.0

OpenSearcher = Callable[..., Any]
ReadPointer = Callable[[str, Any], "str | None"]


@dataclass(frozen=True)
class Loaded:
    """One open index version; replaced whole, never mutated, so a query sees one version."""

    searcher: Any
    version: str
    loaded_at: float


@dataclass(frozen=True)
class Refusal:
    """A version the daemon would not switch to, and why."""

    version: str | None
    error: str
    at: float


@dataclass(frozen=True)
class DaemonConfig:
    """What the daemon needs besides its S3 client; from_settings() reads the environment."""

    index_root: str
    cache_dir: str | None = None
    allowed_buckets: frozenset[str] = frozenset()
    max_image_bytes: int = 10 * 1024 * 1024
    reload_seconds: float = 30.0
    max_request_bytes: int = 8192
    conn_timeout: float = 30.0
    max_connections: int = 64
    search_slots: int = 4

    @classmethod
    def from_settings(cls) -> DaemonConfig:
        """The configuration named by the IMAGESEARCH_* settings."""
        from imagesearch.querying import parse_allowed_buckets

        return cls(
            index_root=settings.get("IMAGESEARCH_INDEX"),
            cache_dir=settings.get("IMAGESEARCH_CACHE_DIR") or None,
            allowed_buckets=parse_allowed_buckets(settings.get("IMAGESEARCH_ALLOWED_BUCKETS")),
            max_image_bytes=int(settings.get("IMAGESEARCH_MAX_IMAGE_BYTES")),
            reload_seconds=float(settings.get("IMAGESEARCH_RELOAD_SECONDS")),
            max_request_bytes=int(settings.get("IMAGESEARCH_MAX_REQUEST_BYTES")),
            conn_timeout=float(settings.get("IMAGESEARCH_CONN_TIMEOUT")),
            max_connections=int(settings.get("IMAGESEARCH_MAX_CONNECTIONS")),
            search_slots=int(settings.get("IMAGESEARCH_SEARCH_SLOTS")),
        )


def _default_open(index_root: str, **kwargs: Any) -> Any:
    from imagesearch.searcher import Searcher

    return Searcher.open(index_root, **kwargs)


def _default_pointer(index_root: str, s3: Any) -> str | None:
    from imagesearch.artifacts import read_current

    return read_current(index_root, s3)


class Daemon:
    """The daemon's state and request handling, independent of the socket that feeds it."""

    def __init__(self, config: DaemonConfig, *, s3: Any, open_searcher: OpenSearcher = _default_open,
                 read_pointer: ReadPointer = _default_pointer) -> None:
        self.config = config
        self.s3 = s3
        self._open_searcher = open_searcher
        self._read_pointer = read_pointer
        self._loaded: Loaded | None = None  # swapped by one assignment; read once per query
        self._refused: Refusal | None = None
        # Every MXNet call runs on this one thread: MXNet is not thread-safe, and a hybridized
        # network keeps per-thread buffers, so featurizing on each connection's thread grew the
        # daemon by megabytes per new image (measured: 640 MiB -> 1.6 GiB over 100 new images).
        self._model = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagesearch-model")
        # Each LSH re-ranking gathers megabytes of candidate rows; a burst of 50 connections all
        # computing at once peaked near 1 GB where a few at a time answer as fast on 2 cores.
        self._search_slots = threading.BoundedSemaphore(max(1, config.search_slots))
        self._reload_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._started = time.monotonic()
        self._served = 0
        self._errors: dict[str, int] = {}
        self._reloads = 0

    # --- index versions -------------------------------------------------------------------

    @property
    def loaded(self) -> Loaded | None:
        """The live index version, or None before one could be loaded."""
        return self._loaded

    def reload(self, reason: str = "request") -> dict:
        """Follow the pointer; open a newer version fully, then swap it in. Never raises."""
        with self._reload_lock:
            current = self._loaded
            try:
                version = self._read_pointer(self.config.index_root, self.s3)
            except Exception as e:  # noqa: BLE001 - any failure refuses the reload; logged with its cause
                return self._refuse(None, f"cannot read the index pointer: {e!r}", reason, e)
            if version is None:
                return self._refuse(None, "no index published yet (no current.json)", reason)
            if current is not None and version == current.version:
                return {"ok": True, "changed": False, "version": version}
            refused = self._refused
            if (reason == "poll" and refused is not None and refused.version == version
                    and time.time() - refused.at < REFUSED_RETRY_SECONDS):
                # Retrying a broken version every poll would only spam the journal; a transient
                # failure (S3, weights download) is retried after a while, or at once on request.
                return {"ok": False, "changed": False, "version": version, "refused": refused.error}
            t0 = time.perf_counter()
            try:
                searcher = self._open_version(version, current)
            except Exception as e:  # noqa: BLE001 - a broken version must never stop the daemon
                return self._refuse(version, f"{type(e).__name__}: {e}", reason, e)
            self._loaded = Loaded(searcher, version, time.time())  # the atomic swap
            self._refused = None
            with self._stats_lock:
                self._reloads += 1
            log.info("index loaded", extra={"fields": {
                "event": "index_loaded", "version": version, "previous": current.version if current else None,
                "count": searcher.count, "reason": reason,
                "ms": round((time.perf_counter() - t0) * 1000, 1)}})
            return {"ok": True, "changed": True, "version": version,
                    "previous": current.version if current else None}

    def _open_version(self, version: str, current: Loaded | None) -> Any:
        """Open a version completely, model included, and prove it answers before anyone can see it."""
        featurizer = None
        if current is not None:
            try:
                featurizer = current.searcher.featurizer  # reused by open() when the weights match
            except SearchError:
                featurizer = None  # the old version never got its model; the new one tries its own
        searcher = self._open_searcher(self.config.index_root, s3=self.s3, cache_dir=self.config.cache_dir,
                                       version=version, featurizer=featurizer)
        if searcher.version != version:
            raise SearchError("index_unavailable", f"opened {searcher.version!r}, pointer says {version!r}")
        if searcher.count > 0:
            # Touch the arrays end to end (mmap pages, LSH tables) with a real query of row 0.
            searcher.search_vector(searcher.vector(0), 1)
        warm_up = getattr(searcher, "warm_up", None)
        if callable(warm_up):
            try:
                # Load and run the model now, not on the first new image, on the model thread
                # because the featurizer may be the one the live version is using this moment.
                self._model.submit(warm_up).result()
            except SearchError as e:
                if current is not None:
                    raise  # keep the version whose model works
                # Nothing else to serve: indexed images still work; new ones report the cause.
                log.error("model unavailable", extra={"fields": {
                    "event": "model_unavailable", "version": version, "error": e.message}})
        return searcher

    def _refuse(self, version: str | None, error: str, reason: str,
                cause: BaseException | None = None) -> dict:
        self._refused = Refusal(version, error, time.time())
        current = self._loaded
        log.error("index version refused", exc_info=cause, extra={"fields": {
            "event": "index_refused", "version": version, "error": error, "reason": reason,
            "serving": current.version if current else None}})
        return {"ok": False, "changed": False, "version": version, "refused": error,
                "serving": current.version if current else None}

    # --- requests -------------------------------------------------------------------------

    def handle_line(self, line: bytes) -> dict:
        """Answer one request line; every failure becomes an error object, never an exception."""
        started = time.perf_counter()
        request: Request | None = None
        try:
            request = parse_request(line)
            answer = self.handle(request)
        except SearchError as e:
            answer = e.to_json()
        except Exception as e:  # noqa: BLE001 - one bad query must not take the daemon down; logged
            log.exception("request failed", extra={"fields": {"event": "internal_error"}})
            answer = SearchError("internal", f"{type(e).__name__}: {e}").to_json()
        self._record(request, answer, time.perf_counter() - started)
        return answer

    def handle(self, request: Request) -> dict:
        """Answer one validated request (raises SearchError)."""
        if request.op == "health":
            return self.health()
        if request.op == "reload":
            result = self.reload("request")
            if not result["ok"]:
                raise SearchError("index_unavailable", f"reload refused: {result['refused']}")
            return result
        return self.search(request)

    def search(self, request: Request) -> dict:
        """Fetch the query image and search the live version (raises SearchError)."""
        from imagesearch.querying import search_s3_image

        current = self._loaded  # one read: the whole query runs on this version
        if current is None:
            refused = self._refused
            raise SearchError("index_unavailable",
                              "no index version loaded" + (f": {refused.error}" if refused else ""))
        searcher = current.searcher
        return search_s3_image(searcher, self.s3, request, max_bytes=self.config.max_image_bytes,
                               allowed_buckets=self.config.allowed_buckets,
                               featurize=lambda image: self._model.submit(searcher.featurize, image).result(),
                               search_slot=self._search_slots)

    def health(self) -> dict:
        """Index version, count, mode, pretrained flag, uptime, queries served, last refusal."""
        current = self._loaded
        refused = self._refused
        with self._stats_lock:
            served, errors, reloads = self._served, dict(self._errors), self._reloads
        index = None
        if current is not None:
            from imagesearch.querying import index_summary

            index = index_summary(current.searcher, current.searcher.resolve_mode(None))
            weights = (getattr(current.searcher, "manifest", None) or {}).get("weights") or {}
            index["pretrained"] = bool(weights.get("pretrained", False))
            index["weights"] = weights.get("source")
            index["loaded_at"] = current.loaded_at
        return {
            "ok": True,
            "status": "serving" if current is not None else "no_index",
            "index": index,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "queries_served": served,
            "errors": errors,
            "reloads": reloads,
            "refused": None if refused is None else {"version": refused.version, "error": refused.error,
                                                     "at": refused.at},
            "pid": os.getpid(),
        }

    def _record(self, request: Request | None, answer: dict, seconds: float) -> None:
        ok = answer.get("ok", False)
        code = None if ok else answer["error"]["code"]
        op = request.op if request is not None else None
        with self._stats_lock:
            if op == "search" and ok:
                self._served += 1
            if code is not None:
                self._errors[code] = self._errors.get(code, 0) + 1
        if op == "health":
            return  # health checks are frequent and tell nothing worth keeping in the journal
        fields = {"event": "request", "op": op, "ok": ok, "ms": round(seconds * 1000, 3)}
        if request is not None and op == "search":
            fields.update(bucket=request.bucket, key=request.key, k=request.k,
                          indexed=answer.get("indexed"), version=(answer.get("index") or {}).get("version"))
        if code is not None:
            fields.update(code=code, message=answer["error"]["message"][:300])
        log.info("request", extra={"fields": fields})

    # --- background reload ----------------------------------------------------------------

    def start_poller(self, stop: threading.Event) -> threading.Thread:
        """A thread re-reading the pointer every reload_seconds until `stop` is set."""

        def loop() -> None:
            while not stop.wait(self.config.reload_seconds):
                self.reload("poll")

        thread = threading.Thread(target=loop, name="imagesearch-reload", daemon=True)
        thread.start()
        return thread


# --- the socket server ----------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    """One connection: read request lines until EOF, timeout or an oversized line."""

    server: DaemonServer

    def handle(self) -> None:
        daemon = self.server.daemon
        if not self.server.slots.acquire(blocking=False):
            busy = SearchError("internal", "daemon busy: too many connections, retry").to_json()
            busy["retry"] = True  # the thin client retries until its deadline instead of failing
            self._send(busy)
            return
        try:
            self.connection.settimeout(daemon.config.conn_timeout)
            limit = daemon.config.max_request_bytes
            while True:
                try:
                    line = self.rfile.readline(limit + 1)
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
        _remove_stale_socket(socket_path)
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


def _remove_stale_socket(path: str) -> None:
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


# --- logging and the `imagesearch serve|health|reload` commands -----------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for the journal (systemd captures stdout)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line with its structured fields."""
        body: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "msg": record.getMessage()}
        body.update(getattr(record, "fields", {}))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send every imagesearch log record to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("imagesearch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_serve(args: argparse.Namespace) -> int:
    """`imagesearch serve`: load, listen, poll for new versions, stop cleanly on SIGTERM/SIGINT."""
    from imagesearch.querying import make_s3_client

    configure_logging()
    config = DaemonConfig.from_settings()
    if args.index:
        config = dataclasses.replace(config, index_root=args.index)
    socket_path = args.socket or settings.get("IMAGESEARCH_SOCKET")
    daemon = Daemon(config, s3=make_s3_client(config.max_connections))
    daemon.reload("startup")
    server = DaemonServer(daemon, socket_path).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    daemon.start_poller(stop)
    current = daemon.loaded
    log.info("listening", extra={"fields": {"event": "listening", "socket": socket_path,
                                            "version": current.version if current else None,
                                            "index_root": config.index_root}})
    stop.wait()
    log.info("stopping", extra={"fields": {"event": "stopping"}})
    server.close()
    return 0


def run_control(args: argparse.Namespace) -> int:
    """`imagesearch health|reload`: send one op to the daemon and print its answer."""
    from imagesearch.client import DaemonUnavailable, ask_daemon

    socket_path = args.socket or settings.get("IMAGESEARCH_SOCKET")
    try:
        answer = ask_daemon(socket_path, Request(args.daemon_op), timeout=args.timeout)
    except DaemonUnavailable as e:
        answer = SearchError("internal", str(e)).to_json()
    except SearchError as e:
        answer = e.to_json()
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("ok") else 1


def add_daemon_commands(subparsers: Any) -> None:
    """Register `serve`, `health` and `reload` on the imagesearch CLI."""
    serve = subparsers.add_parser("serve", help="run the warm search daemon on a Unix socket")
    serve.add_argument("--index", help="index root (default: IMAGESEARCH_INDEX)")
    serve.add_argument("--socket", help="socket path (default: IMAGESEARCH_SOCKET)")
    serve.set_defaults(func=run_serve)
    for name, text in (("health", "ask the daemon for its index version, uptime and counters"),
                       ("reload", "ask the daemon to follow the index pointer now")):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("--socket", help="socket path (default: IMAGESEARCH_SOCKET)")
        p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer")
        p.set_defaults(func=run_control, daemon_op=name)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m imagesearch.daemon serve`)."""
    parser = argparse.ArgumentParser(prog="imagesearch")
    add_daemon_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
