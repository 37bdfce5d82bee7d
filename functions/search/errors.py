"""Domain errors of the search function, each carrying its HTTP status and a stable error code.

They are raised where the problem is found and turned into `{"error": {"code", "message"}}`
answers in one place (the resolver's exception handler in app.py).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

# One reading of AWS error codes for the function and the shared SSM code (the layer).
from ssm_command.aws_errors import error_code, is_throttle

# What an anonymous caller is told. A 5xx message, or one the agent wrote, may name the private
# bucket, an index path or an instance: the caller gets these generic words and the request id,
# the log gets the detail (docs/function.md, "Answers").
PUBLIC_MESSAGES = {
    "bad_image": "the query image could not be read as an image",
    "too_large": "the query image is larger than the search accepts",
    "not_found": "the query image does not exist",
    "bad_request": "the search agent refused the request",
    "misconfigured": "the service is misconfigured; an operator must act (quote the request_id)",
    "no_instance": "no search instance is running; try again later",
    "throttled": "the service is busy; try again shortly",
}
PUBLIC_BY_STATUS = {
    500: "internal error; quote the request_id",
    502: "the search failed on the search instance; quote the request_id",
    503: "no search instance is available right now; try again shortly",
    504: "the search took too long and was stopped; try again",
}


class SearchAPIError(Exception):
    """Base of every error the API answers with: an HTTP status, a code and a message."""

    status = 500
    code = "internal"
    # The message is the function's own words about the caller's input: safe to answer as is.
    message_is_public = True

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def public_message(self) -> str:
        """The message the caller may see: the detail only for the caller's own 4xx mistakes."""
        if self.status < 500 and self.message_is_public:
            return self.message
        return PUBLIC_MESSAGES.get(self.code) or PUBLIC_BY_STATUS.get(self.status, PUBLIC_BY_STATUS[500])

    def body(self) -> dict:
        """The `error` object of the answer (the detail stays in `message`, for the log)."""
        return {"code": self.code, "message": self.public_message()}


class BadRequest(SearchAPIError):
    """The request body is malformed or a field is invalid (400)."""

    status = 400
    code = "bad_request"


class Forbidden(SearchAPIError):
    """The caller asked for something only the operator's callers may do (403)."""

    status = 403
    code = "forbidden"


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
    message_is_public = False  # the agent's words may name its bucket, index or paths

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
