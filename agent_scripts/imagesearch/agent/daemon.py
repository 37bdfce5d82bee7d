"""The warm search daemon: request handling and its counters, over one live index version.

Requests and answers are newline-delimited JSON (imagesearch.agent.protocol) fed by the Unix socket
server (imagesearch.agent.server). Queries for images already in the index never wait for the
featurizer, which runs on one model thread because MXNet is not thread-safe. The live version and
its reloads are imagesearch.agent.live_index; the poller is imagesearch.agent.poller; the `serve`,
`health` and `reload` commands are imagesearch.cli.daemon.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from imagesearch.agent.live_index import IndexOpener, LiveIndex, Loaded, ReadPointer
from imagesearch.agent.poller import start_index_poller
from imagesearch.agent.protocol import Request, parse_request
from imagesearch.decode_budget import LARGE_BYTES
from imagesearch.errors import SearchError
from imagesearch.settings import Settings

log = logging.getLogger("imagesearch.agent.daemon")


@dataclass(frozen=True)
class DaemonConfig:
    """What the daemon needs besides its S3 client; from_settings() takes them from the settings."""

    index_root: str
    cache_dir: str | None = None
    allowed_buckets: frozenset[str] = frozenset()
    max_image_bytes: int = 10 * 1024 * 1024
    reload_seconds: float = 30.0
    max_request_bytes: int = 8192
    conn_timeout: float = 30.0
    max_connections: int = 64
    search_slots: int = 4
    large_decodes: int = 1  # large query images decoded at once, in their own lane
    keep_versions: int | None = 3  # cached index versions kept besides the loaded one (None: all)

    @classmethod
    def from_settings(cls, settings: Settings) -> DaemonConfig:
        """The configuration named by the IMAGESEARCH_* settings."""
        return cls(
            index_root=settings.index,
            cache_dir=settings.cache_dir or None,
            allowed_buckets=settings.allowed_buckets,
            max_image_bytes=settings.max_image_bytes,
            reload_seconds=settings.reload_seconds,
            max_request_bytes=settings.max_request_bytes,
            conn_timeout=settings.conn_timeout,
            max_connections=settings.max_connections,
            search_slots=settings.search_slots,
            large_decodes=settings.large_decodes,
            keep_versions=settings.keep_versions,
        )


def _open_index(index_root: str, **kwargs: Any) -> Any:
    from imagesearch.index.opened import OpenIndex

    return OpenIndex.open(index_root, **kwargs)


def _read_current(index_root: str, s3: Any) -> str | None:
    """The version current.json names (None: nothing published yet), read by the index's store."""
    from imagesearch.index.storage import open_store

    return open_store(index_root, s3=s3).read_current()


class Daemon:
    """The daemon's state and request handling, independent of the socket that feeds it."""

    def __init__(self, config: DaemonConfig, *, s3: Any, open_index: IndexOpener = _open_index,
                 read_pointer: ReadPointer = _read_current) -> None:
        self.config = config
        self.s3 = s3
        # Every MXNet call runs on this one thread: MXNet is not thread-safe, and a hybridized
        # network keeps per-thread buffers, so featurizing on each connection's thread grew the
        # daemon by megabytes per new image (measured: 640 MiB -> 1.6 GiB over 100 new images).
        self._model = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagesearch-model")
        self.live = LiveIndex(config.index_root, s3=s3, cache_dir=config.cache_dir,
                              open_index=open_index, read_pointer=read_pointer,
                              run_on_model=self._on_model_thread, keep_versions=config.keep_versions)
        # Each LSH re-ranking gathers megabytes of candidate rows; a burst of 50 connections all
        # computing at once peaked near 1 GB where a few at a time answer as fast on 2 cores.
        self._search_slots = threading.BoundedSemaphore(max(1, config.search_slots))
        # Query images are decoded on their connection's thread, not the model thread, so a
        # near-cap PNG (seconds of decoding) never holds the model; the large ones take turns in
        # their own lane, so twelve of them occupy one core and ordinary queries keep the other.
        self._large_lane = threading.BoundedSemaphore(max(1, config.large_decodes))
        self._stats_lock = threading.Lock()
        self._started = time.monotonic()
        self._served = 0
        self._errors: dict[str, int] = {}

    def _on_model_thread(self, fn: Any, *args: Any) -> Any:
        return self._model.submit(fn, *args).result()

    # --- index versions (imagesearch.agent.live_index) ------------------------------------------

    @property
    def loaded(self) -> Loaded | None:
        """The live index version, or None before one could be loaded."""
        return self.live.loaded

    def reload(self, reason: str = "request") -> dict:
        """Follow the pointer and swap in a newer version; never raises (see LiveIndex.reload)."""
        return self.live.reload(reason)

    def start_poller(self, stop: threading.Event) -> threading.Thread:
        """A thread re-reading the pointer every reload_seconds until `stop` is set."""
        return start_index_poller(self.reload, self.config.reload_seconds, stop)

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
        from imagesearch.agent.querying import search_s3_image

        current = self.live.loaded  # one read: the whole query runs on this version
        if current is None:
            refused = self.live.refused
            raise SearchError("index_unavailable",
                              "no index version loaded" + (f": {refused.error}" if refused else ""))
        index = current.index
        return search_s3_image(index, self.s3, request, max_bytes=self.config.max_image_bytes,
                               allowed_buckets=self.config.allowed_buckets,
                               featurize=lambda data: self._featurize(index, data),
                               search_slot=self._search_slots)

    def _featurize(self, index: Any, data: bytes) -> Any:
        """Decode on this thread (a large image in the large lane), then run the model on its thread."""
        lane = self._large_lane if index.decode_cost(data) > LARGE_BYTES else nullcontext()
        with lane:
            image = index.decode_query(data)
        return self._on_model_thread(index.featurize_decoded, image)

    def health(self) -> dict:
        """Index version, count, mode, pretrained flag, uptime, queries served, last refusal."""
        current = self.live.loaded
        refused = self.live.refused
        with self._stats_lock:
            served, errors = self._served, dict(self._errors)
        index = None
        if current is not None:
            from imagesearch.agent.querying import index_summary

            index = index_summary(current.index, current.index.resolve_mode(None))
            weights = (getattr(current.index, "manifest", None) or {}).get("weights") or {}
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
            "reloads": self.live.reloads,
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
