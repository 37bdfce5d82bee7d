"""Who may ask with `fresh`: callers that present the operator's token (docs/function.md, "Fresh").

`fresh` skips the result cache and forces an SSM round trip, so an open one lets anyone load the
instance at will. The token is an SSM SecureString parameter the operator creates; the function
reads it when a request first needs it and keeps it for TOKEN_SECONDS, so a rotation reaches every
container within that time and an ordinary search never calls Parameter Store.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from deadline import Clock
from errors import Forbidden, error_code, from_client_error

HEADER = "x-imagesearch-fresh-token"
TOKEN_SECONDS = 300.0
# A token shorter than this is refused as a configuration mistake: it could be guessed.
MIN_TOKEN_CHARS = 16
_REFUSED = f'"fresh" needs the operator\'s token in the {HEADER} header'

log = logging.getLogger("search")


@dataclass
class FreshGate:
    """Checks a request's token against the operator's, read at most every TOKEN_SECONDS per container."""

    clock: Clock = time.monotonic
    _seen: tuple[str, str | None, float] | None = field(default=None, repr=False)

    def check(self, ssm: Any, parameter: str, presented: str | None) -> None:
        """Return when `presented` is the operator's token; Forbidden (403) otherwise."""
        if not presented:
            raise Forbidden(_REFUSED)
        token = self._token(ssm, parameter) if parameter else None
        if token is None:
            raise Forbidden('"fresh" is not enabled on this deployment (the operator sets no token)')
        if not hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), token.encode("utf-8")):
            raise Forbidden(_REFUSED)

    def forget(self) -> None:
        """Read the parameter again on the next check."""
        self._seen = None

    def _token(self, ssm: Any, parameter: str) -> str | None:
        now = self.clock()
        if self._seen and self._seen[0] == parameter and now - self._seen[2] < TOKEN_SECONDS:
            return self._seen[1]
        try:
            value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as e:
            if error_code(e) != "ParameterNotFound":
                raise from_client_error(e, "read the fresh token parameter") from e
            log.warning("fresh: the parameter %s does not exist; fresh is refused to every caller", parameter)
            value = None
        if value is not None and len(value) < MIN_TOKEN_CHARS:
            log.warning("fresh: the token in %s is shorter than %d characters; fresh is refused",
                        parameter, MIN_TOKEN_CHARS)
            value = None
        self._seen = (parameter, value, now)
        return value
