"""Parse and check the body of `POST /search`: exactly `key` (albums/...) and `k` (1..10)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from errors import BadRequest
from keys import K_MAX, K_MIN, QUERY_KEY

# A valid body is under 300 bytes; anything much larger is not a search request.
MAX_BODY_BYTES = 2048
FIELDS = frozenset({"key", "k"})


@dataclass(frozen=True)
class SearchRequest:
    key: str
    k: int


def parse_request(body: str | None) -> SearchRequest:
    """The validated request, or BadRequest with a code and a message naming what is wrong."""
    if body is None or not body.strip():
        raise BadRequest('the body must be a JSON object like {"key": "albums/<album>/<file>", "k": 5}',
                         code="malformed_body")
    if len(body.encode("utf-8", errors="replace")) > MAX_BODY_BYTES:
        raise BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes", code="malformed_body")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as e:
        raise BadRequest(f"the body is not valid JSON ({e.__class__.__name__})", code="malformed_body") from e
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_body")

    unknown = sorted(set(data) - FIELDS)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise BadRequest(f"unknown fields: {shown}; only 'key' and 'k' are accepted", code="unknown_field")
    missing = sorted(FIELDS - set(data))
    if missing:
        raise BadRequest(f"missing fields: {', '.join(missing)}", code="missing_field")

    key = data["key"]
    if not isinstance(key, str) or not QUERY_KEY.fullmatch(key):
        raise BadRequest("key must look like albums/<album>/<file> using letters, digits, '_', '-' and "
                         "up to four '.suffix' parts", code="bad_key")
    k = data["k"]
    # bool is an int subclass in Python; true/false is not a count.
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise BadRequest(f"k must be an integer from {K_MIN} to {K_MAX}", code="bad_k")
    return SearchRequest(key=key, k=k)
