"""Copy each match's preview to `results/` in the site bucket, all at once.

The source is the match's display copy `previews/<album>/<file>` (made at publish and ingest,
without the original's metadata), never the original: a site-to-site copy, no decoding here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from deadline import Deadline, Sleep
from errors import error_code, is_throttle

log = logging.getLogger("search")

# Our own retries on top of the client's: S3 answers SlowDown per prefix, and a short jittered wait
# usually clears it. Bounded so a copy never eats the request's deadline.
COPY_ATTEMPTS = 3
BACKOFF_SECONDS = 0.1


@dataclass(frozen=True)
class CopyOutcome:
    gallery_key: str
    site_key: str
    ok: bool
    error: str | None = None


def result_key(gallery_key: str) -> str:
    """Where a match is copied in the site bucket (docs/contracts.md)."""
    return "results/" + gallery_key


def preview_key(gallery_key: str) -> str:
    """The preview of a gallery image `gallery/<album>/<file>`: `previews/<album>/<file>` (site bucket)."""
    return "previews/" + gallery_key.removeprefix("gallery/")


def copy_one(s3: Any, site_bucket: str, gallery_key: str, sleep: Sleep = time.sleep) -> CopyOutcome:
    """Copy one match's preview, retrying throttling; the outcome names the AWS error when it fails."""
    site_key = result_key(gallery_key)
    for attempt in range(1, COPY_ATTEMPTS + 1):
        try:
            s3.copy_object(Bucket=site_bucket, Key=site_key,
                           CopySource={"Bucket": site_bucket, "Key": preview_key(gallery_key)})
            return CopyOutcome(gallery_key, site_key, ok=True)
        except ClientError as e:
            if is_throttle(e) and attempt < COPY_ATTEMPTS:
                sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random()))
                continue
            log.warning("copy of %s failed after %d attempts: %s", gallery_key, attempt, error_code(e))
            return CopyOutcome(gallery_key, site_key, ok=False, error=error_code(e) or "ClientError")
        except BotoCoreError as e:
            # Connection and read-timeout errors, already retried by the client.
            log.warning("copy of %s failed: %r", gallery_key, e)
            return CopyOutcome(gallery_key, site_key, ok=False, error=e.__class__.__name__)
    raise AssertionError("unreachable: the loop returns on its last attempt")


def copy_results(s3: Any, site_bucket: str, gallery_keys: Sequence[str], workers: int,
                 deadline: Deadline | None = None, sleep: Sleep = time.sleep) -> list[CopyOutcome]:
    """Copy every key in parallel; one outcome per key, in order. Copies unfinished at the deadline fail."""
    if not gallery_keys:
        return []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(gallery_keys)), thread_name_prefix="copy")
    try:
        futures = [pool.submit(copy_one, s3, site_bucket, key, sleep=sleep)
                   for key in gallery_keys]
        done, _ = wait(futures, timeout=deadline.remaining() if deadline else None)
    finally:
        # Don't wait for stragglers: the answer reports them as missing.
        pool.shutdown(wait=False, cancel_futures=True)
    outcomes = []
    for key, future in zip(gallery_keys, futures, strict=True):
        if future in done:
            outcomes.append(future.result())
        else:
            log.warning("copy of %s did not finish before the deadline", key)
            outcomes.append(CopyOutcome(key, result_key(key), ok=False, error="deadline"))
    return outcomes
