"""The daemon protocol: newline-delimited JSON requests and answers over a Unix socket.

Pure standard library, shared by the daemon and the thin client, so the client's warm path
never imports numpy, MXNet or boto3.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from imagesearch.errors import SearchError
from imagesearch.index.modes import MODES
from imagesearch.keys import BUCKET_RE, K_RE, QUERY_KEY_RE

OPS = ("search", "health", "reload")


class Request(NamedTuple):
    """One validated request; bucket, key and k are set only for `search`.

    A NamedTuple rather than a dataclass: `dataclasses` (and the `inspect` it pulls in) would
    add several milliseconds to every thin-client run.
    """

    op: str
    bucket: str | None = None
    key: str | None = None
    k: int | None = None
    mode: str | None = None

    def to_json(self) -> dict:
        """The wire form of this request."""
        if self.op != "search":
            return {"op": self.op}
        body: dict = {"op": "search", "bucket": self.bucket, "key": self.key, "k": self.k}
        if self.mode is not None:
            body["mode"] = self.mode
        return body


def _bad(message: str) -> SearchError:
    return SearchError("bad_request", message)


def _short(value: object, limit: int = 80) -> str:
    """A value quoted for an error message, cut so a hostile value cannot flood the output."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def validate_bucket(value: object) -> str:
    """A bucket name matching the contract pattern, else SearchError('bad_request')."""
    if not isinstance(value, str) or not BUCKET_RE.fullmatch(value):
        raise _bad(f"bucket must match {BUCKET_RE.pattern}, got {_short(value)}")
    return value


def validate_key(value: object) -> str:
    """A query key matching the contract pattern (albums/, gallery/ or uploads/<id>), else bad_request."""
    if not isinstance(value, str) or not QUERY_KEY_RE.fullmatch(value):
        raise _bad(f"key must match {QUERY_KEY_RE.pattern}, got {_short(value)}")
    return value


def validate_k(value: object) -> int:
    """k as an int in 1..10; accepts the decimal string form the SSM parameter carries."""
    if isinstance(value, bool):  # bool is an int subclass; True is not a k
        raise _bad(f"k must be an integer 1..10, got {_short(value)}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not K_RE.fullmatch(value):
        raise _bad(f"k must be an integer 1..10, got {_short(value)}")
    return int(value)


def validate_mode(value: object) -> str | None:
    """None (the index default) or one of MODES."""
    if value is None or value in MODES:
        return value  # type: ignore[return-value]
    raise _bad(f"mode must be one of {', '.join(MODES)}, got {_short(value)}")


def search_request(bucket: object, key: object, k: object, mode: object = None) -> Request:
    """A validated search request (the one place both client and daemon check inputs)."""
    return Request("search", validate_bucket(bucket), validate_key(key), validate_k(k), validate_mode(mode))


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line; every failure is SearchError('bad_request')."""
    try:
        body = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(f"request is not valid JSON: {e}") from e
    if not isinstance(body, dict):
        raise _bad("request must be a JSON object")
    op = body.get("op")
    if op not in OPS:
        raise _bad(f"op must be one of {', '.join(OPS)}, got {_short(op)}")
    allowed = {"op", "bucket", "key", "k", "mode"} if op == "search" else {"op"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise _bad(f"unexpected fields for {op}: {_short(extra)}")
    if op != "search":
        return Request(op)
    return search_request(body.get("bucket"), body.get("key"), body.get("k"), body.get("mode"))


def encode(message: dict) -> bytes:
    """One message as a single JSON line (no embedded newlines: json escapes them)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode_answer(line: bytes) -> dict:
    """Parse one answer line from the daemon; a broken line is SearchError('internal')."""
    try:
        answer = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SearchError("internal", f"daemon sent an unreadable answer: {e}") from e
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise SearchError("internal", "daemon answer is not an agent JSON object")
    return answer
