"""The index version the daemon serves: opened completely, proven, then swapped in whole.

A reload follows the index pointer (current.json); a newer version is opened (arrays mapped, a
smoke query, the model warmed) and only then installed by one reference assignment, so every query
runs on one whole version. A version that fails any step is refused and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from imagesearch.errors import SearchError

# One logger name for every journal line the daemon writes, whichever module writes it.
log = logging.getLogger("imagesearch.agent.daemon")

# How long a poll leaves a refused version alone before trying it again.
REFUSED_RETRY_SECONDS = 300.0

IndexOpener = Callable[..., Any]  # OpenIndex.open, or a test double with its signature
ReadPointer = Callable[[str, Any], "str | None"]
RunOnModel = Callable[[Callable[[], Any]], Any]


class Loaded(NamedTuple):
    """One open index version; replaced whole, never mutated, so a query sees one version."""

    index: Any  # an imagesearch.index.opened.OpenIndex
    version: str
    loaded_at: float


class Refusal(NamedTuple):
    """A version the daemon would not switch to, and why."""

    version: str | None
    error: str
    at: float


def _run_here(fn: Callable[[], Any]) -> Any:
    return fn()


class LiveIndex:
    """The live version of one index root, and the reloads that replace it."""

    def __init__(self, index_root: str, *, s3: Any, open_index: IndexOpener, read_pointer: ReadPointer,
                 cache_dir: str | None = None, run_on_model: RunOnModel = _run_here,
                 keep_versions: int | None = None) -> None:
        self.index_root = index_root
        self.s3 = s3
        self.cache_dir = cache_dir
        self._open_index = open_index
        self._read_pointer = read_pointer
        self._run_on_model = run_on_model
        self.keep_versions = keep_versions
        self._loaded: Loaded | None = None  # swapped by one assignment; read once per query
        self._refused: Refusal | None = None
        self._lock = threading.Lock()
        self.reloads = 0  # versions installed so far

    @property
    def loaded(self) -> Loaded | None:
        """The live index version, or None before one could be loaded."""
        return self._loaded

    @property
    def refused(self) -> Refusal | None:
        """The last version refused since the last successful swap, if any."""
        return self._refused

    def reload(self, reason: str = "request") -> dict:
        """Follow the pointer; open a newer version fully, then swap it in. Never raises."""
        with self._lock:
            current = self._loaded
            try:
                version = self._read_pointer(self.index_root, self.s3)
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
                index = self._open_version(version, current)
            except Exception as e:  # noqa: BLE001 - a broken version must never stop the daemon
                return self._refuse(version, f"{type(e).__name__}: {e}", reason, e)
            self._loaded = Loaded(index, version, time.time())  # the atomic swap
            self._refused = None
            self.reloads += 1
            previous = current.version if current else None
            log.info("index loaded", extra={"fields": {
                "event": "index_loaded", "version": version, "previous": previous,
                "count": index.count, "reason": reason,
                "ms": round((time.perf_counter() - t0) * 1000, 1)}})
            self._prune_cache({version, previous} - {None})
            return {"ok": True, "changed": True, "version": version, "previous": previous}

    def _prune_cache(self, protect: set[str]) -> None:
        """Delete cached copies of older versions (each as big as the index); never fails a reload."""
        if self.keep_versions is None or not self.cache_dir:
            return
        from imagesearch.index.storage import open_store

        try:
            gone = open_store(self.index_root, s3=self.s3).prune_cache(
                self.cache_dir, self.keep_versions, protect)
        except (OSError, SearchError) as e:
            log.warning("cache prune failed", extra={"fields": {"event": "cache_prune_failed",
                                                                "error": repr(e)}})
            return
        if gone:
            log.info("cached versions deleted", extra={"fields": {"event": "cache_pruned", "versions": gone}})

    def _open_version(self, version: str, current: Loaded | None) -> Any:
        """Open a version completely, model included, and prove it answers before anyone can see it."""
        featurizer = None
        if current is not None:
            try:
                featurizer = current.index.featurizer  # reused by open() when the weights match
            except SearchError:
                featurizer = None  # the old version never got its model; the new one tries its own
        index = self._open_index(self.index_root, s3=self.s3, cache_dir=self.cache_dir,
                                 version=version, featurizer=featurizer)
        if index.version != version:
            raise SearchError("index_unavailable", f"opened {index.version!r}, pointer says {version!r}")
        smoke_query = getattr(index, "smoke_query", None)
        if callable(smoke_query):
            smoke_query()  # a backend elsewhere (S3 Vectors) proves it answers its own way
        elif index.count > 0:
            # Touch the arrays end to end (mmap pages, LSH tables) with a real query of row 0.
            index.search_vector(index.vector(0), 1)
        warm_up = getattr(index, "warm_up", None)
        if callable(warm_up):
            try:
                # Load and run the model now, not on the first new image, on the model thread
                # because the featurizer may be the one the live version is using this moment.
                self._run_on_model(warm_up)
            except SearchError as e:
                if current is not None:
                    raise  # keep the version whose model works
                # Nothing else to serve: indexed images still work; new ones report the cause.
                log.error("model unavailable", extra={"fields": {
                    "event": "model_unavailable", "version": version, "error": e.message}})
        return index

    def _refuse(self, version: str | None, error: str, reason: str,
                cause: BaseException | None = None) -> dict:
        self._refused = Refusal(version, error, time.time())
        current = self._loaded
        log.error("index version refused", exc_info=cause, extra={"fields": {
            "event": "index_refused", "version": version, "error": error, "reason": reason,
            "serving": current.version if current else None}})
        return {"ok": False, "changed": False, "version": version, "refused": error,
                "serving": current.version if current else None}
