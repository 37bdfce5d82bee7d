"""Where the demo's re-index is: its state, phase, images done of the run, images/s and ETA.

One object shared by the run's thread (which writes it) and the dev server's request threads (which
read `snapshot()`, the JSON of `GET /local/reindex`, docs/contracts.md "Local re-index"). Every
method takes the lock, so a reader never sees half an update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

IDLE, RUNNING, DONE, FAILED = "idle", "running", "done", "failed"


@dataclass
class ReindexProgress:
    """The last (or current) run's progress; `clock` is time.monotonic, `wall` time.time (tests pass
    their own)."""

    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    state: str = IDLE
    phase: str = ""
    run: str | None = None
    done: int = 0
    total: int | None = None
    previous_version: str | None = None
    version: str | None = None
    daemon_version: str | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    _started: float = 0.0
    _featurizing_since: float | None = None
    _done_at_first: int = 0
    _featurized_at: float | None = None  # when the last image got its shard: the rate stops there
    _ended: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        """Whether a run is under way."""
        with self._lock:
            return self.state == RUNNING

    def begin(self, previous_version: str | None) -> None:
        """A new run starts (everything of the last one is cleared)."""
        with self._lock:
            self.state, self.phase, self.run, self.done, self.total = RUNNING, "starting", None, 0, None
            self.previous_version, self.version, self.daemon_version = previous_version, None, None
            self.error = None
            self.started_at, self.finished_at, self._ended = self.wall(), None, None
            self._started, self._featurizing_since, self._done_at_first = self.clock(), None, 0
            self._featurized_at = None

    def set_phase(self, phase: str) -> None:
        """What the run is doing now, in words."""
        with self._lock:
            self.phase = phase

    def featurized(self, run: str, done: int, total: int) -> None:
        """The run's shards so far: `done` of `total` images featurized."""
        with self._lock:
            if self._featurizing_since is None:
                # The rate counts from the first look at the run, not from the model conversion.
                self._featurizing_since, self._done_at_first = self.clock(), done
            self.run, self.done, self.total = run, done, total
            if done >= total and self._featurized_at is None:
                self._featurized_at = self.clock()

    def finish(self, version: str | None, daemon_version: str | None) -> None:
        """The new version is live (and the daemon serves `daemon_version`)."""
        with self._lock:
            self.state, self.phase, self.version, self.daemon_version = DONE, "done", version, daemon_version
            if self.total is not None:
                self.done = self.total
            self._end()

    def fail(self, message: str) -> None:
        """The run stopped; the live version is whatever it was (the message says why)."""
        with self._lock:
            self.state, self.error = FAILED, message
            self._end()

    def _end(self) -> None:
        self.finished_at, self._ended = self.wall(), self.clock()

    def _rate(self) -> float | None:
        if self._featurizing_since is None:
            return None
        elapsed = (self._featurized_at or self._ended or self.clock()) - self._featurizing_since
        featurized = self.done - self._done_at_first
        return featurized / elapsed if elapsed > 0 and featurized > 0 else None

    def snapshot(self) -> dict:
        """The JSON of GET /local/reindex."""
        with self._lock:
            rate = self._rate()
            left = None if self.total is None else max(0, self.total - self.done)
            eta = round(left / rate, 1) if rate and left is not None and self.state == RUNNING else None
            now = self._ended or self.clock()
            elapsed = None if self.started_at is None else round(now - self._started, 1)
            return {"state": self.state, "phase": self.phase, "run": self.run, "done": self.done,
                    "total": self.total, "images_per_s": None if rate is None else round(rate, 2),
                    "eta_s": eta, "elapsed_s": elapsed, "previous_version": self.previous_version,
                    "version": self.version, "daemon_version": self.daemon_version, "error": self.error,
                    "started_at": self.started_at, "finished_at": self.finished_at}
