"""Domain errors of the search function, each carrying its HTTP status and a stable error code.

They are raised where the problem is found and turned into `{"error": {"code", "message"}}`
answers in one place (the resolver's exception handler in app.py).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

# One reading of AWS error codes for the function and the shared SSM code (the layer).
from ssm_command.aws_errors import error_code, is_throttle


class SearchAPIError(Exception):
    """Base of every error the API answers with: an HTTP status, a code and a message."""

    status = 500
    code = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def body(self) -> dict:
        """The `error` object of the answer."""
        return {"code": self.code, "message": self.message}


class BadRequest(SearchAPIError):
    """The request body is malformed or a field is invalid (400)."""

    status = 400
    code = "bad_request"


class ImageNotFound(SearchAPIError):
    """The query image does not exist in the site bucket (404)."""

    status = 404
    code = "not_found"


class Throttled(SearchAPIError):
    """AWS kept throttling us after retries (429)."""

    status = 429
    code = "throttled"


class AgentFailed(SearchAPIError):
    """The search command ran and failed, or printed something we cannot use (502)."""

    status = 502
    code = "agent_failed"

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code)
        if status is not None:
            self.status = status


class InstanceUnavailable(SearchAPIError):
    """No running search instance, or the command could not be delivered to it (503)."""

    status = 503
    code = "instance_unavailable"


class DeadlineExceeded(SearchAPIError):
    """The request ran out of time; the command was cancelled (504)."""

    status = 504
    code = "deadline_exceeded"


class Misconfigured(SearchAPIError):
    """The function's settings or permissions are wrong; an operator must act (500)."""

    status = 500
    code = "misconfigured"


def from_client_error(e: ClientError, action: str) -> SearchAPIError:
    """A domain error for an AWS error we have no more specific answer for."""
    code = error_code(e)
    if is_throttle(e):
        return Throttled(f"AWS throttled {action} ({code}); try again shortly")
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}:
        return Misconfigured(f"the function is not allowed to {action} ({code})")
    return AgentFailed(f"{action} failed: {code or 'unknown AWS error'}", code="aws_error")
