"""Domain errors carrying the error codes of the agent's JSON output (docs/contracts.md)."""

from __future__ import annotations

# Every code the agent may put in {"ok": false, "error": {"code": ...}}.
ERROR_CODES = (
    "bad_request",  # malformed input (k, key, bucket, request shape)
    "not_found",  # the query image does not exist
    "bad_image",  # not an image, truncated, corrupt, decompression bomb
    "too_large",  # the query image exceeds the download cap
    "index_unavailable",  # no index version could be loaded
    "weights_unavailable",  # model weights cannot be had (offline, missing file, wrong file)
    "misconfigured",  # the deployment is wrong (an SSM parameter never reached the client)
    "internal",  # anything unexpected; the message says what
)


class SearchError(Exception):
    """An error with a stable machine-readable code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict:
        """The agent-output form of this error."""
        return {"ok": False, "error": {"code": self.code, "message": self.message}}
