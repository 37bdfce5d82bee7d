"""What the HTTP API does before the function runs: match a route, and answer or add CORS.

Read from template.yaml (the function's HttpApi events and the API's CorsConfiguration), so the
dev server lets through exactly what API Gateway lets through: only the template's routes reach
the function (anything else is API Gateway's `404 {"message":"Not Found"}`), preflight requests
are answered here, and the CORS headers of an answer are the API's, never the function's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from publish.template import http_api_cors, http_api_routes

NOT_FOUND = {"message": "Not Found"}

Resolve = Callable[[object], str]


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass(frozen=True)
class Cors:
    """An HttpApi CorsConfiguration with its values resolved."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_configuration(cls, config: Mapping[str, Any], resolve: Resolve) -> Cors:
        """The template's CorsConfiguration, each value resolved to its local value."""
        def values(name: str) -> tuple[str, ...]:
            return tuple(resolve(v) for v in config.get(name) or ())

        max_age = config.get("MaxAge")
        return cls(allow_origins=values("AllowOrigins"), allow_methods=values("AllowMethods"),
                   allow_headers=values("AllowHeaders"), expose_headers=values("ExposeHeaders"),
                   max_age=None if max_age is None else int(resolve(max_age)),
                   allow_credentials=resolve(config.get("AllowCredentials", False)) == "true")

    def allows(self, origin: str | None) -> bool:
        """Whether the origin is one of AllowOrigins (`*`, `http://*` and `https://*` as wildcards)."""
        if not origin:
            return False
        for allowed in self.allow_origins:
            if allowed == "*" or allowed.lower() == origin.lower():
                return True
            if allowed.endswith("://*") and origin.lower().startswith(allowed[:-1].lower()):
                return True
        return False

    def _origin_headers(self, origin: str) -> dict[str, str]:
        headers = {"access-control-allow-origin": "*" if self.allow_origins == ("*",) else origin}
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return headers

    def preflight(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers of the API's 204 answer to a preflight (none when the origin is not allowed)."""
        origin = _lower(headers).get("origin")
        if not self.allows(origin):
            return {}
        answer = self._origin_headers(str(origin))
        if self.allow_methods:
            answer["access-control-allow-methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            answer["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            answer["access-control-max-age"] = str(self.max_age)
        return answer

    def response_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The CORS headers added to an answer for a request from `Origin` (none when not allowed)."""
        origin = _lower(headers).get("origin")
        if not self.allows(origin):
            return {}
        answer = self._origin_headers(str(origin))
        if self.expose_headers:
            answer["access-control-expose-headers"] = ",".join(self.expose_headers)
        return answer


@dataclass(frozen=True)
class HttpApi:
    """The routes that reach the function and the API's CORS configuration (None: no CORS)."""

    routes: frozenset[tuple[str, str]]
    cors: Cors | None = None

    @classmethod
    def from_template(cls, template: dict, function_id: str, resolve: Resolve) -> HttpApi:
        """The function's HttpApi routes and their API's CorsConfiguration, read from the template."""
        found = http_api_routes(template, function_id)
        apis = {api for _, _, api in found}
        if len(apis) != 1:
            raise ValueError(f"{function_id} must have HttpApi routes on exactly one API, not {sorted(apis)}")
        config = http_api_cors(template, apis.pop())
        cors = Cors.from_configuration(config, resolve) if config else None
        return cls(routes=frozenset((method, path) for method, path, _ in found), cors=cors)

    def route_key(self, method: str, path: str) -> str | None:
        """The matched route key (`POST /search`), or None when no route matches."""
        for candidate in (method.upper(), "ANY"):
            if (candidate, path) in self.routes:
                return f"{candidate} {path}"
        return None

    def is_preflight(self, method: str, headers: Mapping[str, str]) -> bool:
        """An OPTIONS request with Origin and Access-Control-Request-Method, which the API answers."""
        lowered = _lower(headers)
        return (self.cors is not None and method.upper() == "OPTIONS" and "origin" in lowered
                and "access-control-request-method" in lowered)
