"""The function's side of the result cache: the live index version, reading and writing entries.

Every failure here is a miss, logged, never a failed request: the SSM path still answers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cache_entries import (
    CURRENT_KEY,
    SHA256_METADATA,
    SHA256_RE,
    CorruptEntry,
    decode_entry,
    encode_entry,
    entry_key,
    parse_current,
)
from deadline import Clock
from errors import error_code

log = logging.getLogger("search")

_MISSING = {"404", "NoSuchKey", "NotFound"}
# The function may not list the private gallery bucket, so S3 answers a missing entry with 403.
_ABSENT_ENTRY = _MISSING | {"403", "AccessDenied"}


def query_sha256(head: dict) -> str | None:
    """The query image's SHA-256 from its head (metadata written by publish), or None."""
    value = (head.get("Metadata") or {}).get(SHA256_METADATA)
    return value if isinstance(value, str) and SHA256_RE.fullmatch(value) else None


@dataclass
class LiveVersion:
    """The version `index/current.json` names, re-read at most every `ttl_seconds` per container."""

    clock: Clock = time.monotonic
    _seen: tuple[str, str | None, float] | None = field(default=None, repr=False)

    def get(self, s3: Any, bucket: str, ttl_seconds: float) -> str | None:
        """The live version id, or None when there is none or it cannot be read (logged)."""
        now = self.clock()
        if self._seen and self._seen[0] == bucket and now - self._seen[2] < ttl_seconds:
            return self._seen[1]
        version = None
        try:
            raw = s3.get_object(Bucket=bucket, Key=CURRENT_KEY)["Body"].read()
            version = parse_current(raw)
        except ClientError as e:
            if error_code(e) not in _MISSING:
                log.warning("cache: cannot read %s: %s", CURRENT_KEY, e)
        except (BotoCoreError, ValueError) as e:
            log.warning("cache: cannot read %s: %s", CURRENT_KEY, e)
        # A failure is remembered for the same short time, so a broken pointer is not fetched per request.
        self._seen = (bucket, version, now)
        return version

    def forget(self) -> None:
        """Read the pointer again on the next request."""
        self._seen = None


def read_entry(s3: Any, bucket: str, version: str, sha256: str) -> dict | None:
    """The checked entry, or None on a miss; a corrupt or unreadable entry is a logged miss."""
    key = entry_key(version, sha256)
    try:
        raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        if error_code(e) not in _ABSENT_ENTRY:
            log.warning("cache: cannot read %s, answering through SSM: %s", key, e)
        return None
    except BotoCoreError as e:
        log.warning("cache: cannot read %s, answering through SSM: %s", key, e)
        return None
    try:
        return decode_entry(raw, version, sha256)
    except CorruptEntry as e:
        log.warning("cache: corrupt entry %s, answering through SSM: %s", key, e)
        return None


def write_entry(s3: Any, bucket: str, sha256: str, results: list[dict], index: dict) -> bool:
    """Store an SSM answer under the version that computed it; False (logged) when it cannot."""
    version = index.get("version")
    try:
        key = entry_key(str(version), sha256)
        body = encode_entry(str(version), sha256, results, index, source="miss")
    except ValueError as e:
        log.warning("cache: not written (%s)", e)
        return False
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (ClientError, BotoCoreError) as e:
        log.warning("cache: cannot write %s: %s", key, e)
        return False
    return True
