"""Parse and check the body of `POST /search`: `k` (1..10), one query (`key` or `upload`), `fresh`,
`min_score` (-1..1)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass

from errors import BadRequest
from keys import K_MAX, K_MIN, QUERY_KEY
from uploads import parse_upload_id, upload_key

# A valid body is under 300 bytes; anything much larger is not a search request.
MAX_BODY_BYTES = 2048
FIELDS = frozenset({"key", "upload", "k"})
# fresh: true skips the result cache (operators and tests); min_score: drop matches scoring below it.
OPTIONAL = frozenset({"fresh", "min_score"})
# Scores are cosines: a min_score outside [-1, 1] filters nothing or everything, so it is a mistake.
MIN_SCORE_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class SearchRequest:
    key: str  # the query key as asked: albums/..., gallery/... or uploads/<id>
    k: int
    upload: str | None = None  # the upload id when the query is an upload
    fresh: bool = False
    min_score: float | None = None  # matches below it are left out of the answer (after the search)

    @property
    def image_key(self) -> str:
        """The query image's key in the gallery bucket, where every query image lives.

        `albums/<album>/<file>` (the older album form, still accepted) names `gallery/<album>/<file>`:
        the site bucket holds no originals (docs/contracts.md, "Keys").
        """
        return "gallery/" + self.key[len("albums/"):] if self.key.startswith("albums/") else self.key

    @property
    def preview_key(self) -> str | None:
        """The site key of the query's preview (`previews/<album>/<file>`); None for an upload."""
        if self.upload is not None:
            return None
        return "previews/" + self.image_key[len("gallery/"):]


def decode_body(body: str | None, is_base64: bool) -> str | None:
    """The body as text; bytes that are not base64 or not UTF-8 are the caller's fault (400)."""
    if body is None:
        return None
    try:
        # Decoded here, strictly: the resolver's own decoding raised on bad bytes and answered 500.
        raw = base64.b64decode(body, validate=True) if is_base64 else body.encode("utf-8")
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeError) as e:
        raise BadRequest("the body is not UTF-8 text", code="malformed_body") from e


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

    unknown = sorted(set(data) - FIELDS - OPTIONAL)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise BadRequest(f"unknown fields: {shown}; only 'key' or 'upload', 'k', 'fresh' and 'min_score' "
                         "are accepted", code="unknown_field")
    if "key" in data and "upload" in data:
        raise BadRequest("give either 'key' or 'upload', not both", code="malformed_body")
    missing = sorted({"k", "key" if "upload" not in data else "upload"} - set(data))
    if missing:
        raise BadRequest(f"missing fields: {', '.join(missing)}", code="missing_field")

    upload = None
    if "upload" in data:
        upload = parse_upload_id(data["upload"])
        key = upload_key(upload)
    else:
        key = data["key"]
        if not isinstance(key, str) or not QUERY_KEY.fullmatch(key) or key.startswith("uploads/"):
            raise BadRequest("key must look like albums/<album>/<file> or gallery/<album>/<file> using "
                             "letters, digits, '_', '-' and up to four '.suffix' parts (an upload is named "
                             "by 'upload')", code="bad_key")
    k = data["k"]
    # bool is an int subclass in Python; true/false is not a count.
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise BadRequest(f"k must be an integer from {K_MIN} to {K_MAX}", code="bad_k")
    fresh = data.get("fresh", False)
    if not isinstance(fresh, bool):
        raise BadRequest("fresh must be true or false", code="bad_fresh")
    return SearchRequest(key=key, k=k, upload=upload, fresh=fresh, min_score=parse_min_score(data))


def parse_min_score(data: dict) -> float | None:
    """The optional `min_score`: a finite number in MIN_SCORE_RANGE; absent is None."""
    if "min_score" not in data:
        return None
    value = data["min_score"]
    low, high = MIN_SCORE_RANGE
    # bool is an int subclass; Python's json also reads NaN, Infinity and 1e999 (inf).
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not low <= value <= high):
        raise BadRequest(f"min_score must be a number from {low:g} to {high:g}", code="bad_min_score")
    return float(value)
