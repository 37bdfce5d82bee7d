"""Reading botocore's ClientError: its AWS error code, and whether it means "slow down"."""

from __future__ import annotations

from botocore.exceptions import ClientError

# Error codes AWS uses for throttling (botocore's standard retry mode treats the same as throttles).
THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled", "SlowDown",
    "EC2ThrottledException", "ProvisionedThroughputExceededException",
})


def error_code(e: ClientError) -> str:
    """The AWS error code of a ClientError ('' when absent)."""
    return str(e.response.get("Error", {}).get("Code", ""))


def is_throttle(e: ClientError) -> bool:
    """Whether a ClientError means 'slow down' (throttling code or HTTP 503 from S3)."""
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(e) in THROTTLE_CODES or status == 503
