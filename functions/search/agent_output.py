"""Read the agent's one JSON object (docs/contracts.md) and check it before anything trusts it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from cache_entries import BANDS, SHA256_RE
from errors import AgentFailed
from keys import GALLERY_KEY

# HTTP status for each error code the agent may report with ok:false. Codes not listed answer 502.
AGENT_ERROR_STATUS = {
    "bad_request": 400,  # the agent rejected the input the function passed on
    "not_found": 404,  # the query image vanished between our check and the search
    # The caller's image is at fault, not the gateway: 422, so alarms on 5xx mean our faults only.
    "bad_image": 422,
    "too_large": 422,
    "misconfigured": 500,  # the instance lacks a setting or an SSM parameter: a deployment fault
    "index_unavailable": 503,  # the instance runs but has no index loaded yet: try later
    "weights_unavailable": 503,  # nor model weights: an operator must publish them
    "internal": 502,
}
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class AgentAnswer:
    results: list[dict]
    index: dict
    path: str
    search_ms: float | None
    # The SHA-256 of the bytes the agent read and searched (`query.sha256`), None when it named none.
    sha256: str | None = None


def _load(stdout: str) -> dict | None:
    """The JSON object in stdout (the whole text, else its last non-empty line), or None."""
    text = stdout.strip()
    candidates = [text] + [line for line in reversed(text.splitlines()) if line.strip()][:1]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def agent_error(stdout: str) -> AgentFailed | None:
    """The agent's own error when stdout holds {"ok": false, "error": {...}}, else None."""
    return _failure_in(_load(stdout))


def _failure_in(data: dict | None) -> AgentFailed | None:
    if not data or data.get("ok") is not False or not isinstance(data.get("error"), dict):
        return None
    code = data["error"].get("code")
    message = data["error"].get("message")
    code = code if isinstance(code, str) and _CODE.fullmatch(code) else "agent_failed"
    message = message[:300] if isinstance(message, str) and message else "the search agent failed"
    return AgentFailed(message, code=code, status=AGENT_ERROR_STATUS.get(code, 502))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def parse_agent_output(stdout: str, k: int) -> AgentAnswer:
    """The checked answer; AgentFailed with the agent's code, or `bad_agent_output` if unusable."""
    data = _load(stdout)
    failure = _failure_in(data)
    if failure:
        raise failure
    if data is None or data.get("ok") is not True or not isinstance(data.get("results"), list):
        raise AgentFailed("the search agent printed no usable answer", code="bad_agent_output")
    results = []
    for item in data["results"][:k]:
        key = item.get("key") if isinstance(item, dict) else None
        score = _number(item.get("score")) if isinstance(item, dict) else None
        if not isinstance(key, str) or not GALLERY_KEY.fullmatch(key) or score is None:
            raise AgentFailed(f"the search agent returned a malformed result: {str(item)[:120]}",
                              code="bad_agent_output")
        band = item.get("band")
        # Passed through when it is a band name; an agent of an older version sends none (null).
        results.append({"key": key, "score": score, "band": band if band in BANDS else None})
    index = data.get("index") if isinstance(data.get("index"), dict) else {}
    path = data.get("path") if data.get("path") in ("warm", "cold") else "warm"
    timings = data.get("timings_ms") if isinstance(data.get("timings_ms"), dict) else {}
    return AgentAnswer(results=results, index=index, path=path, search_ms=_number(timings.get("total")),
                       sha256=_searched_sha256(data.get("query")))


def _searched_sha256(query: Any) -> str | None:
    """`query.sha256` when it is 64 lowercase hex digits; anything else is no hash (never cached)."""
    value = query.get("sha256") if isinstance(query, dict) else None
    return value if isinstance(value, str) and SHA256_RE.fullmatch(value) else None
