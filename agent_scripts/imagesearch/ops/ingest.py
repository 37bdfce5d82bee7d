"""Apply one ingest batch (docs/contracts.md, "Ingest") to the index as one new live version.

The batch object `ingest/<id>.json` in the gallery bucket names the net changes the ingest
function saw. Each key is checked against the bucket as it is now, so the order in which batches
are applied cannot resurrect or lose an image: an object that exists is added (or found unchanged
by its content hash), one that does not is removed. One batch runs at a time on the instance (a
file lock), the new version is published (current.json moves last), and the daemon is asked to
reload. Files that are not images are skipped and listed; a transient read error fails the batch
so the queue delivers it again, and a repeated batch finds nothing to change.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from imagesearch.errors import SearchError
from imagesearch.keys import GALLERY_KEY_RE, INGEST_KEY_RE
from imagesearch.model.sources import Source
from imagesearch.s3io import get_bytes, object_exists, read_s3_capped

OPS = ("put", "delete")
# The report travels back in SSM's inline output (24,000 characters): long lists are cut.
REPORT_LIST_LIMIT = 50
LOCK_NAME = "ingest.lock"


def parse_batch(raw: bytes, where: str) -> list[dict]:
    """The batch's changes [{"key", "op"}], format-checked; bad_request when it is not a batch."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SearchError("bad_request", f"{where} is not JSON: {e}") from e
    changes = doc.get("changes") if isinstance(doc, dict) else None
    if not isinstance(changes, list):
        raise SearchError("bad_request", f"{where} has no list of changes")
    for change in changes:
        if not isinstance(change, dict) or change.get("op") not in OPS or not isinstance(
                change.get("key"), str):
            raise SearchError("bad_request", f"{where} has a malformed change: {str(change)[:200]}")
    return changes


@contextmanager
def batch_lock(path: str, timeout_s: float, *, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """One batch at a time on this machine: an exclusive flock on `path`, waited for up to timeout_s."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+b") as f:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as e:
                if time.monotonic() >= deadline:
                    message = f"another ingest batch still holds {path}; retry later"
                    raise SearchError("internal", message) from e
                sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class _Reads:
    """Readers of the batch's objects that remember transient failures (the batch must be retried)."""

    def __init__(self, s3: Any, bucket: str, max_bytes: int) -> None:
        self.s3, self.bucket, self.max_bytes = s3, bucket, max_bytes
        self.transient: list[str] = []

    def source(self, key: str) -> Source:
        def read() -> bytes:
            try:
                return read_s3_capped(self.s3, self.bucket, key, self.max_bytes)
            except SearchError as e:
                if e.code == "internal":
                    self.transient.append(f"{key}: {e.message}")
                raise

        return Source(key, f"s3://{self.bucket}/{key}", None, read)


def release_model() -> None:
    """Give the model update_images loaded back to the OS before the stages that do not need it.

    The featurizer is garbage once update_images returns, but MXNet's blocks sit in reference
    cycles and glibc keeps the freed heap: without this the ingest command carried ~155 MiB of
    model into the display copies' decodes (bench/decode_memory.py). The warm-up and duplicates
    search stored vectors only and never load the model.
    """
    import gc

    from imagesearch.decode_budget import release_memory

    gc.collect()
    release_memory()


def _short(items: list, limit: int = REPORT_LIST_LIMIT) -> list:
    return items[:limit]


def apply_batch(
    batch_key: str,
    *,
    bucket: str,
    index_root: str,
    s3: Any,
    config: Any,
    cache_dir: str,
    lock_timeout_s: float = 600.0,
    featurizer: Any = None,
    after_publish: Callable[[str], dict] | None = None,
    after_apply: Callable[[list[str]], dict] | None = None,
) -> dict:
    """Apply the batch `ingest/<id>.json` of `bucket` to `index_root`; the report (JSON-ready dict)."""
    from imagesearch.ops.build import update_images  # numpy and the model: only when a batch runs

    started = time.perf_counter()
    if not INGEST_KEY_RE.fullmatch(batch_key):
        raise SearchError("bad_request", f"not an ingest batch key: {batch_key[:120]!r}")
    raw = get_bytes(s3, bucket, batch_key)
    if raw is None:
        raise SearchError("not_found", f"s3://{bucket}/{batch_key} does not exist")
    changes = parse_batch(raw, f"s3://{bucket}/{batch_key}")
    bad_keys = [c["key"] for c in changes if not GALLERY_KEY_RE.fullmatch(c["key"])]
    keys = sorted({c["key"] for c in changes} - set(bad_keys))
    reads = _Reads(s3, bucket, config.limits.max_bytes)
    with batch_lock(os.path.join(cache_dir, LOCK_NAME), lock_timeout_s):
        # The bucket now, not the event, decides: a later batch may already have undone this one.
        present = [k for k in keys if object_exists(s3, bucket, k)]
        gone = sorted(set(keys) - set(present))
        # A name outside the key pattern under gallery/ is never read nor listed, only recorded as
        # skipped while it exists (the album counts it; `index info` names it).
        gallery_bad = sorted({k for k in bad_keys if k.startswith("gallery/")})
        bad_present = [k for k in gallery_bad if object_exists(s3, bucket, k)]
        refused = [{"key": k, "reason": "bad_key", "message": "not a gallery/<album>/<file> key"}
                   for k in bad_present]
        report = update_images(
            index_root, sources=[reads.source(k) for k in present],
            remove=gone + sorted(set(gallery_bad) - set(bad_present)), config=config, s3=s3,
            featurizer=featurizer, cache_dir=cache_dir, source=f"s3://{bucket}/{batch_key}", kind="ingest",
            refused=refused,
        )
    if featurizer is None:
        release_model()
    if reads.transient:
        # The version (if any) holds what could be read; the retry adds the rest and changes nothing else.
        raise SearchError("internal", "could not read " + "; ".join(reads.transient[:5]))
    changed = "parent" in report  # a report names its parent only when a new version went live
    skipped = [{"key": s.get("key"), "reason": s["reason"], "message": str(s.get("message", ""))[:200]}
               for s in report["skipped_files"]]
    skipped += [{"key": k[:300], "reason": "bad_key", "message": "not a gallery/<album>/<file> key"}
                for k in bad_keys if not k.startswith("gallery/")]
    for s in skipped:
        s["key"] = str(s["key"])[:300]
    out = {
        "ok": True,
        "batch": batch_key,
        "changed": changed,
        "version": report["version"],
        "parent": report.get("parent"),
        "count": report["count"],
        "added": report["added"],
        "replaced": report["replaced"],
        "unchanged": report["unchanged"],
        "removed": report["removed"],
        "present": len(present),
        "gone": len(gone),
        "skipped": len(skipped),
        "skipped_files": _short(skipped),
        "index": {"version": report["version"], "count": report["count"],
                  "default_mode": report.get("default_mode"),
                  "weights": {k: report.get("weights", {}).get(k) for k in ("source", "pretrained")}},
        "seconds": round(time.perf_counter() - started, 2),
    }
    if changed and after_publish is not None:
        out.update(after_publish(report["version"]))
    if after_apply is not None:
        # Always, changed or not: a retried batch (the site update failed after the version went
        # live) finds nothing to change in the index but must still bring the site in line. Under
        # the lock and from the live version, so a later batch's listing is never overwritten.
        with batch_lock(os.path.join(cache_dir, LOCK_NAME), lock_timeout_s):
            out.update(after_apply(keys + sorted(set(bad_keys))))
    return out
