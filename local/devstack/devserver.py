"""The dev server: the site bucket served like the CloudFront distribution, /api/* like the HTTP API.

GET and HEAD read objects from the site bucket in moto (index.html for a folder), with the
distribution's security headers (devstack.site_headers, CSP included), so the page,
config.js, albums.json, album images and copied results all come from the bucket as in AWS. Under
/api/ it does what API Gateway does (devstack.http_api, read from template.yaml): a preflight is
answered here, a request matching one of the function's routes becomes an HTTP API payload 2.0
event for the function's handler, anything else is a 404, and CORS headers are the API's.
Under /local/ it serves the stack's own local-only endpoints (`local_routes`, e.g. the demo's
re-index, devstack.reindex_endpoint), which exist nowhere in AWS: no function, no template route.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from devstack.http_api import NOT_FOUND, HttpApi
from devstack.lambda_host import FunctionError, http_api_event

log = logging.getLogger("devstack.devserver")

API_PREFIX = "/api"
# The local stack's own endpoints: never under /api, so never mistaken for the deployed API.
LOCAL_PREFIX = "/local"
# API Gateway refuses payloads over 10 MB; the search API takes a few hundred bytes.
MAX_BODY_BYTES = 1024 * 1024

Invoke = Callable[[dict], dict]
# A local endpoint: (method, request headers, body) -> (HTTP status, JSON answer).
LocalHandler = Callable[[str, Mapping[str, str], bytes], tuple[int, dict]]
# What API Gateway's HTTP API answers (500) when its Lambda integration errs or times out.
INTEGRATION_ERROR = {"message": "Internal Server Error"}


def _valid_response(response: object) -> bool:
    """Whether a payload 2.0 answer can be turned into an HTTP response (else API Gateway answers 500)."""
    if not isinstance(response, dict) or "statusCode" not in response:
        return True  # taken as a 200 JSON body
    try:
        return 100 <= int(response["statusCode"]) <= 599
    except (TypeError, ValueError):
        return False


class _Handler(BaseHTTPRequestHandler):
    server: DevServer
    protocol_version = "HTTP/1.1"
    server_version = "devstack"
    # Every read on a connection gives up after this long (a short body otherwise waited for ever).
    timeout = 10.0

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    # -- routing ------------------------------------------------------------------------------------

    def _under(self, prefix: str) -> bool:
        path = urlsplit(self.path).path
        return path == prefix or path.startswith(prefix + "/")

    def _is_api(self) -> bool:
        return self._under(API_PREFIX)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self._under(LOCAL_PREFIX):
            return self._local()
        self._api() if self._is_api() else self._static(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        if self._under(LOCAL_PREFIX):
            return self._local()
        self._api() if self._is_api() else self._static(head=True)

    def do_POST(self) -> None:  # noqa: N802
        if self._under(LOCAL_PREFIX):
            return self._local()
        self._api() if self._is_api() else self._plain(HTTPStatus.METHOD_NOT_ALLOWED, "static site: GET only")

    do_PUT = do_DELETE = do_PATCH = do_POST
    do_OPTIONS = do_POST

    # -- the site bucket ----------------------------------------------------------------------------

    def _static(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        key = path.lstrip("/")
        if key == "" or key.endswith("/"):
            key += "index.html"  # the website's index document
        s3, bucket = self.server.s3, self.server.site_bucket
        kwargs = {"Bucket": bucket, "Key": key}
        if self.headers.get("If-None-Match"):
            kwargs["IfNoneMatch"] = self.headers["If-None-Match"]
        try:
            obj = (s3.head_object if head else s3.get_object)(**kwargs)
        except ClientError as e:
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            code = e.response.get("Error", {}).get("Code", "")
            if status == 304 or code == "304":
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self._security_headers()
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if status == 404 or code in ("NoSuchKey", "404"):
                return self._plain(HTTPStatus.NOT_FOUND, f"404 Not Found: {key}", head=head, page=True)
            log.warning("reading s3://%s/%s failed: %s", bucket, key, e)
            return self._plain(HTTPStatus.BAD_GATEWAY, f"cannot read {key}: {code}", head=head, page=True)
        self.send_response(HTTPStatus.OK)
        self._security_headers()
        self.send_header("Content-Type", obj.get("ContentType") or "application/octet-stream")
        self.send_header("Content-Length", str(obj["ContentLength"]))
        for header, field in (("Cache-Control", "CacheControl"), ("ETag", "ETag")):
            if obj.get(field):
                self.send_header(header, obj[field])
        if obj.get("LastModified"):
            self.send_header("Last-Modified", obj["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"))
        self.end_headers()
        if not head:
            with obj["Body"] as body:
                shutil.copyfileobj(body, self.wfile)

    def _security_headers(self) -> None:
        for name, value in self.server.security_headers.items():
            self.send_header(name, value)

    def _plain(self, status: HTTPStatus, text: str, head: bool = False, page: bool = False) -> None:
        data = (text + "\n").encode()
        self.send_response(status)
        if page:
            self._security_headers()
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    # -- the stack's local endpoints -----------------------------------------------------------------

    def _local(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        handler = self.server.local_routes.get(path)
        if handler is None:
            status, answer = 404, {"error": {"code": "not_found", "message": f"no local endpoint {path}"}}
        else:
            status, answer = handler(self.command, dict(self.headers.items()), body)
        self._json(HTTPStatus(status), answer, {"Cache-Control": "no-store"})

    # -- the API --------------------------------------------------------------------------------------

    def _api(self) -> None:
        body = self._read_body()
        if body is None:
            return
        parts = urlsplit(self.path)
        raw_path = parts.path[len(API_PREFIX):] or "/"
        headers = {name: value for name, value in self.headers.items()}
        api = self.server.api
        if api.cors and api.is_preflight(self.command, headers):
            return self._preflight(api.cors.preflight(headers))
        cors = api.cors.response_headers(headers) if api.cors else {}
        route_key = api.route_key(self.command, raw_path)
        if route_key is None:
            return self._json(HTTPStatus.NOT_FOUND, NOT_FOUND, cors)
        event = http_api_event(self.command, raw_path, parts.query, headers, body,
                               source_ip=self.client_address[0], route_key=route_key)
        try:
            response = self.server.invoke(event)
        except FunctionError as e:
            # API Gateway's answer when the Lambda integration fails (an unhandled error, a timeout, a
            # crashed runtime): 500 and this body, the cause only in the logs (docs/local.md).
            log.error("the function failed: %s", json.dumps(e.payload))
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, INTEGRATION_ERROR, cors)
        if not _valid_response(response):
            log.error("the function's answer is not an HTTP API response: %.300r", response)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, INTEGRATION_ERROR, cors)
        self._lambda_response(response, cors)

    def _read_body(self) -> bytes | None:
        """The request body by its Content-Length; None once a refusal is sent (and the connection
        closes: unread or missing bytes would be taken for the next request)."""
        if self.headers.get("Transfer-Encoding"):
            # A chunked body read as "no Content-Length, empty" left its chunks to be misparsed.
            self.close_connection = True
            self._json(HTTPStatus.LENGTH_REQUIRED, {"message": "Length Required"})
            return None
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            self.close_connection = True
            self._json(HTTPStatus.BAD_REQUEST, {"message": "Bad Content-Length"})
            return None
        if size < 0 or size > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Entity Too Large"})
            return None
        try:
            body = self.rfile.read(size) if size else b""
        except TimeoutError:
            body = b""
        if len(body) < size:
            # The client sent fewer bytes than it announced (and stopped or hung up).
            self.close_connection = True
            self._json(HTTPStatus.BAD_REQUEST, {"message": "Bad Request: body shorter than Content-Length"})
            return None
        return body

    def _preflight(self, cors: dict[str, str]) -> None:
        self.send_response(HTTPStatus.NO_CONTENT)
        for name, value in cors.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _lambda_response(self, response: dict, cors: dict[str, str]) -> None:
        # HTTP API payload 2.0: a dict without statusCode is taken as a 200 JSON body.
        if not isinstance(response, dict) or "statusCode" not in response:
            response = {"statusCode": 200, "body": json.dumps(response),
                        "headers": {"content-type": "application/json"}}
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
        self.send_response(int(response["statusCode"]))
        headers = {k.lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ", ".join(str(v) for v in values)
        headers.pop("content-length", None)
        headers.setdefault("content-type", "application/json")
        # With a CORS configuration the API ignores the function's CORS headers and sends its own.
        headers = {name: value for name, value in headers.items() if not name.startswith("access-control-")}
        headers.update(cors)
        for name, value in headers.items():
            self.send_header(name, value)
        for cookie in response.get("cookies") or []:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status: HTTPStatus, payload: dict, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class DevServer(ThreadingHTTPServer):
    """The local website + API origin; bind first (port 0 = free), then set_api, then serve."""

    daemon_threads = True
    # socketserver's default listen backlog is 5: a page loading a grid of images, or 20 searches at
    # once, would see connections reset.
    request_queue_size = 128

    def __init__(self, host: str, port: int, s3, site_bucket: str) -> None:
        super().__init__((host, port), _Handler)
        self.s3 = s3
        self.site_bucket = site_bucket
        # No routes until set_api: the API answers 404 to everything.
        self.api = HttpApi(routes=frozenset())
        self._invoke: Invoke | None = None
        self._thread: threading.Thread | None = None
        # The distribution's response headers policy (devstack.site_headers): on every page answer.
        self.security_headers: dict[str, str] = {}
        # Local-only endpoints by path (under LOCAL_PREFIX); none unless the stack adds them.
        self.local_routes: dict[str, LocalHandler] = {}

    @property
    def url(self) -> str:
        """The origin the page is served from, e.g. http://127.0.0.1:8000."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        """A browser dropping an image load when it navigates away is normal, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def set_api(self, api: HttpApi, invoke: Invoke) -> None:
        """The API's routes and CORS (from the template), and the function that answers its events."""
        self.api = api
        self._invoke = invoke

    def invoke(self, event: dict) -> dict:
        """Hand one API event to the function."""
        if self._invoke is None:
            raise RuntimeError("the API is not wired yet")
        return self._invoke(event)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="devserver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()
