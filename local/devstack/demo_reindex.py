"""The demo's re-index: `make publish ARGS=--reindex` run by the local stack, one run at a time.

The run is publish's own: `publish_all` with `publish.reindex.reindex_step` as its index step, so
the gallery is featurized through the featurize queue (here moto's SQS and the function's own code
in the local Lambda host, devstack.featurize_local), the shards become one new live version
(imagesearch.ops.reindex), and what follows any new version follows it (stale results removed,
result cache warmed for the new version, duplicates.json, albums.json's index summary, config.js).
Then the daemon is asked to reload, as publish's refresh asks the instance, so searches answer from
the new version at once rather than at the next poll. Nothing here re-implements those steps: the
stack hands in `publish` (publish_all with its own options) and `reload`.

A watcher thread reads the run's progress from the bucket (run.json and the shard records, the
same objects `imagesearch reindex`'s progress bar counts) into a ReindexProgress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagesearch.errors import SearchError
from imagesearch.ops.reindex import RUNS_PREFIX, load_plan, written_batches

from devstack.featurize_local import LocalFeaturize
from devstack.reindex_progress import ReindexProgress
from publish.index import live_version
from publish.reindex import IndexStep, reindex_step

DEFAULT_BATCH = 16  # small batches: the page's progress moves every few seconds on the sample


class ReindexBusy(Exception):
    """A run is under way; a second one is refused (HTTP 409)."""


def run_ids(s3: Any, bucket: str) -> set[str]:
    """The runs under reindex/ (each one's folder name)."""
    found: set[str] = set()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=RUNS_PREFIX, Delimiter="/")
    for page in pages:
        found |= {p["Prefix"][len(RUNS_PREFIX):].rstrip("/") for p in page.get("CommonPrefixes", [])}
    return found


def dead_letters(sqs: Any, queue_url: str) -> int:
    """Messages waiting in a dead-letter queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@dataclass
class DemoReindex:
    """Start with start(); read with progress.snapshot(); stop() with the stack.

    publish(index_step): publish_all as the stack runs it, with this index step.
    featurize(): the local featurize path (started on first use, kept for the next run).
    reload(): ask the daemon to reload; its answer (with the version it serves).
    """

    s3: Any
    sqs: Any
    bucket: str
    publish: Callable[[IndexStep], None]
    featurize: Callable[[], LocalFeaturize]
    reload: Callable[[], dict]
    batch_size: int = DEFAULT_BATCH
    poll_s: float = 0.5
    timeout_s: float = 1800.0
    say: Callable[[str], None] = print
    progress: ReindexProgress = field(default_factory=ReindexProgress)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> dict:
        """Start a run in the background and return its first progress; ReindexBusy while one runs."""
        with self._lock:
            if self._stopping.is_set():
                raise ReindexBusy("the stack is stopping")
            if self.progress.running:
                now = self.progress.snapshot()
                of = f", {now['done']} of {now['total']} images" if now["total"] is not None else ""
                raise ReindexBusy(f"a re-index is already running ({now['phase']}{of}); "
                                  "wait for it to finish")
            self.progress.begin(live_version(self.s3, self.bucket))
            started = self.progress.snapshot()  # the answer says "running" even if the run ends at once
            self._thread = threading.Thread(target=self._run, name="demo-reindex", daemon=True)
            self._thread.start()
            return started

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new runs; a run waiting for shards ends (failed: the stack is stopping)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        progress = self.progress
        watching = threading.Event()
        try:
            progress.set_phase("starting the featurize function's containers")
            local = self.featurize()
            before_runs = run_ids(self.s3, self.bucket)
            parked = dead_letters(self.sqs, local.queues.dead_letter_url)

            def between() -> None:
                # wait_for_shards calls this instead of sleeping: stop on shutdown or a poisoned batch.
                time.sleep(self.poll_s)
                if self._stopping.is_set():
                    raise SearchError("internal", "the stack is stopping")
                if dead_letters(self.sqs, local.queues.dead_letter_url) > parked:
                    raise SearchError("internal", "a batch failed every delivery and is in the featurize "
                                      "dead-letter queue (the function's error is in the stack's output)")

            step = reindex_step(self.sqs, local.queues.url, batch_size=self.batch_size,
                                timeout_s=self.timeout_s, between=between)

            def index_step(*args: Any, **kwargs: Any) -> Any:
                progress.set_phase("converting the weights to ONNX and queueing the gallery")
                watcher = threading.Thread(target=self._watch, args=(before_runs, watching),
                                           name="demo-reindex-watch", daemon=True)
                watcher.start()
                try:
                    return step(*args, **kwargs)
                finally:
                    watching.set()
                    watcher.join(5)
                    progress.set_phase("publishing: result cache, duplicates, albums")

            progress.set_phase("checking the gallery against the images folder")
            self.publish(index_step)
            progress.set_phase("the daemon loads the new version")
            health = self.reload()
            version = live_version(self.s3, self.bucket)
            progress.finish(version, health.get("version"))
            self.say(f"re-index done: index {version} is live")
        except Exception as e:  # noqa: BLE001 - whatever stops the run is reported on the page
            message = str(e) or type(e).__name__
            progress.fail(message)
            self.say(f"re-index failed: {message}")
        finally:
            watching.set()

    def _watch(self, before: set[str], stop: threading.Event) -> None:
        """Count the new run's images with a shard (what `imagesearch reindex`'s bar counts)."""
        while not stop.wait(self.poll_s):
            try:
                runs = sorted(run_ids(self.s3, self.bucket) - before)
                plan = load_plan(self.s3, self.bucket, runs[-1]) if runs else None
                if plan is None:
                    continue
                written = written_batches(self.s3, self.bucket, plan.run)
                done = sum(len(batch) for n, batch in enumerate(plan.batches) if n in written)
                self.progress.featurized(plan.run, done, plan.images)
                self.progress.set_phase("featurizing" if done < plan.images else "assembling the new version")
            except Exception as e:  # noqa: BLE001 - a failed look is retried at the next poll
                self.say(f"re-index progress: {type(e).__name__}: {e}")
