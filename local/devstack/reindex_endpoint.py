"""`/local/reindex` on the dev server: start the demo's re-index (POST) and read its progress (GET).

Local only: the dev server serves it outside `/api`, so it is no route of the HTTP API, and
template.yaml and the search function know nothing of it (tests/unit/devstack/test_reindex_endpoint.py).
A start is accepted only as the page sends it, a JSON `{}` from the dev server's own origin: a
cross-site form (which cannot send `application/json` without a preflight this server never
answers) or another site's script cannot start minutes of work on the operator's machine.
Shapes: docs/contracts.md, "Local re-index".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from devstack.demo_reindex import DemoReindex, ReindexBusy
from devstack.devserver import LocalHandler

REINDEX_PATH = "/local/reindex"


def _error(status: HTTPStatus, code: str, message: str, **extra: object) -> tuple[int, dict]:
    return int(status), {"error": {"code": code, "message": message}, **extra}


def reindex_handler(runner: DemoReindex, origin: str) -> LocalHandler:
    """The handler of REINDEX_PATH for a dev server whose page is at `origin`."""

    def handle(method: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict]:
        if method == "GET":
            return int(HTTPStatus.OK), runner.progress.snapshot()
        if method != "POST":
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                          f"{method} is not allowed here: GET reads the re-index's progress, POST starts one")
        lowered = {name.lower(): value for name, value in headers.items()}
        sender = lowered.get("origin")
        # The page's own origin: the server's URL, or the Host it was reached by (--host 0.0.0.0).
        own = {origin.lower(), f"http://{lowered.get('host', '')}".lower()}
        if sender is not None and sender.rstrip("/").lower() not in own:
            return _error(HTTPStatus.FORBIDDEN, "forbidden", "a re-index is started only from the demo's "
                          f"own page ({origin}), not from {sender}")
        content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "bad_request",
                          "send Content-Type: application/json with the body {} "
                          f"(got {content_type or 'none'})")
        try:
            request = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return _error(HTTPStatus.BAD_REQUEST, "bad_request", "the body is not JSON: send {}")
        if request != {}:
            return _error(HTTPStatus.BAD_REQUEST, "bad_request",
                          "a re-index takes no options: send {} (it re-indexes the whole gallery with the "
                          "stack's weights)")
        try:
            return int(HTTPStatus.ACCEPTED), runner.start()
        except ReindexBusy as e:
            return _error(HTTPStatus.CONFLICT, "busy", str(e), progress=runner.progress.snapshot())

    return handle
