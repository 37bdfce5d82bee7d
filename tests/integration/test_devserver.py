"""The dev server's API side over loopback HTTP: the template's routes and CORS, applied as the HTTP API does.

On AWS the HTTP API answers preflights, adds the CORS headers and lets only the template's routes
reach the function; these tests hold the dev server to the same, with a recording stand-in for the
function. The local stack's function environment comes from the template too (last test).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from devstack.devserver import DevServer
from devstack.http_api import HttpApi
from devstack.intrinsics import UnresolvedValue
from devstack.lambda_host import FunctionError, timeout_error
from devstack.stack import LOCAL_NAMES, local_resources

from publish.template import SEARCH_FUNCTION, function_environment, load_template

OTHER_ORIGIN = "https://elsewhere.example"


class RecordingFunction:
    """Stands in for the Lambda host: records each event, answers 200 with a CORS header of its own."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        return {"statusCode": 200, "body": json.dumps({"ok": True}),
                "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}}


@pytest.fixture
def server():
    """A dev server on a free loopback port, its API read from template.yaml; yields (url, function)."""
    dev = DevServer("127.0.0.1", 0, s3=None, site_bucket="unused")
    local = local_resources(dev.url, "http://127.0.0.1:1")
    function = RecordingFunction()
    dev.set_api(HttpApi.from_template(load_template(), SEARCH_FUNCTION, local.resolve), function)
    dev.start()
    try:
        yield dev.url, function
    finally:
        dev.stop()


def request(url: str, method: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of one request; error statuses are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _cors(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def test_the_routes_and_cors_are_the_templates(server):
    url, _ = server
    template = load_template()
    api = HttpApi.from_template(template, SEARCH_FUNCTION, local_resources(url, "http://127.0.0.1:1").resolve)
    assert api.routes == {("POST", "/search"), ("POST", "/uploads")}
    cors = template["Resources"]["SearchApi"]["Properties"]["CorsConfiguration"]
    assert api.cors.allow_origins == (url,)  # !Ref SiteOrigin: the dev server's origin
    assert (list(api.cors.allow_methods), list(api.cors.allow_headers), api.cors.max_age) == (
        cors["AllowMethods"], cors["AllowHeaders"], cors["MaxAge"])


def test_a_preflight_from_the_site_is_answered_without_the_function(server):
    # GIVEN the page's origin asks whether it may POST JSON
    url, function = server
    status, headers, body = request(url + "/api/search", "OPTIONS", {
        "Origin": url, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    # THEN the API answers 204 with the template's CORS configuration, and the function never runs
    assert (status, body) == (204, b"")
    assert _cors(headers) == {"access-control-allow-origin": url, "access-control-allow-methods": "POST",
                              "access-control-allow-headers": "content-type", "access-control-max-age": "600"}
    assert function.events == []


def test_a_preflight_from_another_origin_gets_no_cors_headers(server):
    url, function = server
    status, headers, _ = request(url + "/api/search", "OPTIONS", {
        "Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert _cors(headers) == {}
    assert function.events == []


def test_a_search_reaches_the_function_on_its_route_with_the_apis_cors_headers(server):
    # GIVEN a POST /search from the site's origin
    url, function = server
    status, headers, body = request(url + "/api/search", "POST",
                                    {"Origin": url, "Content-Type": "application/json"}, b'{"k": 1}')
    # THEN the function got an HTTP API v2 event for its route, and the answer carries the API's CORS
    # header, not the one the function set
    assert (status, json.loads(body)) == (200, {"ok": True})
    (event,) = function.events
    assert (event["routeKey"], event["rawPath"], event["body"]) == ("POST /search", "/search", '{"k": 1}')
    assert event["requestContext"]["http"]["method"] == "POST"
    assert _cors(headers) == {"access-control-allow-origin": url}


@pytest.mark.parametrize("origin", [OTHER_ORIGIN, None])
def test_answers_to_other_origins_carry_no_cors_headers(server, origin):
    url, function = server
    status, headers, _ = request(url + "/api/search", "POST", {"Origin": origin} if origin else {}, b"{}")
    assert status == 200 and len(function.events) == 1
    assert _cors(headers) == {}


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/nope"), ("GET", "/api/search"), ("POST", "/api"),
                                              ("DELETE", "/api/search"), ("POST", "/api/search/")])
def test_any_other_route_is_the_apis_404_and_never_reaches_the_function(server, method, path):
    url, function = server
    status, headers, body = request(url + path, method, body=b"{}" if method == "POST" else None)
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert headers["content-type"] == "application/json"
    assert function.events == []


def test_local_endpoints_are_served_outside_the_api_and_only_when_added(server):
    # GIVEN a dev server with no local endpoint THEN /local/... is a JSON 404, never the function
    url, function = server
    as_json = {"Content-Type": "application/json"}
    status, headers, body = request(url + "/local/reindex", "POST", as_json, b"{}")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    # WHEN the stack adds one (the demo's re-index) THEN it gets the method, headers and body
    seen = []

    def handler(method, headers, body):
        seen.append((method, headers.get("Content-Type"), body))
        return 202, {"state": "running"}

    dev = DevServer("127.0.0.1", 0, s3=None, site_bucket="unused")
    dev.local_routes["/local/reindex"] = handler
    dev.start()
    try:
        status, headers, body = request(dev.url + "/local/reindex", "POST", as_json, b"{}")
        head_status, _, head_body = request(dev.url + "/local/reindex", "HEAD")
    finally:
        dev.stop()
    assert (status, json.loads(body)) == (202, {"state": "running"})
    assert headers["cache-control"] == "no-store"  # progress is never cached
    assert seen[0] == ("POST", "application/json", b"{}")
    assert head_status == 202 and head_body == b""  # HEAD: the status and headers, no body
    assert function.events == []


def test_the_function_environment_is_the_templates_resolved_locally():
    # GIVEN the template's Globals and the function's own variables, with the local names
    template = load_template()
    local = local_resources("http://127.0.0.1:8000", "http://127.0.0.1:1")
    # WHEN resolved THEN each !Ref and !GetAtt is the local resource, and every plain value is kept
    env = local.resolve_all(function_environment(template, SEARCH_FUNCTION))
    assert env == {
        "POWERTOOLS_SERVICE_NAME": "image-search", "POWERTOOLS_METRICS_NAMESPACE": "ImageSearch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SITE_BUCKET": LOCAL_NAMES["SiteBucket"], "GALLERY_BUCKET": LOCAL_NAMES["GalleryBucket"],
        "SEARCH_DOCUMENT_NAME": LOCAL_NAMES["SearchDocument"], "INSTANCE_TAG_KEY": "ImageSearchRole",
        "INSTANCE_TAG_VALUE": LOCAL_NAMES["AWS::StackName"], "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "COPY_WORKERS": "10", "DEADLINE_SECONDS": "25", "MAX_UPLOAD_BYTES": "10485760",
        "RESULT_CACHE": "on", "CACHE_VERSION_SECONDS": "5",
        "FRESH_TOKEN_PARAMETER": "/imagesearch-local/fresh-token",
    }
    # A reference the local stack does not know stops it at start-up, naming the value.
    with pytest.raises(UnresolvedValue, match="SearchInstance"):
        local.resolve({"Ref": "SearchInstance"})


def _raw(url: str, data: bytes, *, shut_write: bool = False) -> bytes:
    """Send raw bytes on one connection and read what comes back until the server closes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(data)
        if shut_write:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(("case", "head", "body", "shut_write", "status"), [
    # A chunked body was read as "no Content-Length, empty", its chunks then parsed as a request.
    ("chunked", "Transfer-Encoding: chunked\r\n", b'8\r\n{"k": 1}\r\n0\r\n\r\n', False, b"411"),
    # Fewer bytes than announced: the server waited for ever, or handed a cut body on.
    ("short", "Content-Length: 100\r\n", b'{"k": 1}', True, b"400"),
])
def test_a_chunked_or_short_body_is_refused_never_misparsed(server, case, head, body, shut_write, status):
    url, function = server
    request_bytes = (f"POST /api/search HTTP/1.1\r\nHost: x\r\nOrigin: {url}\r\n"
                     f"Content-Type: application/json\r\n{head}\r\n").encode() + body
    answer = _raw(url, request_bytes, shut_write=shut_write)
    # THEN one refusal, the connection closed, and the function never called
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1
    assert function.events == []


def test_page_answers_carry_the_distributions_security_headers():
    # GIVEN the dev server with the template's response headers policy, resolved locally
    from devstack.site_headers import site_security_headers

    template = load_template()
    dev = DevServer("127.0.0.1", 0, s3=None, site_bucket="unused")
    headers = site_security_headers(template, local_resources(dev.url, "http://127.0.0.1:4566").resolve)
    # THEN the CSP names the page's own origin for the API and moto for the presigned upload
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "${" not in csp
    assert f"connect-src 'self' {dev.url} http://127.0.0.1:4566 http://127.0.0.1:4566;" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # AND a page answer (here a 404 from the site bucket's stand-in) carries them; an API answer does not
    dev.security_headers = headers
    dev.set_api(HttpApi.from_template(template, SEARCH_FUNCTION, local_resources(dev.url, "").resolve),
                RecordingFunction())

    class NoSuchKey:
        def get_object(self, **_):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                              "GetObject")

    dev.s3 = NoSuchKey()
    dev.start()
    try:
        status, page, _ = request(dev.url + "/missing.html", "GET")
        assert status == 404 and page["content-security-policy"] == csp
        _, api, _ = request(dev.url + "/api/search", "POST", {"Content-Type": "application/json"}, b"{}")
        assert "content-security-policy" not in api
    finally:
        dev.stop()


@pytest.mark.parametrize("payload", [timeout_error("r-1", 28.0),
                                     {"errorType": "ValueError", "errorMessage": "x"}])
def test_a_failed_or_timed_out_function_is_the_http_apis_500(payload):
    # GIVEN a function that fails as Lambda reports it (its Timeout passed, or an unhandled error)
    def failing(event: dict) -> dict:
        raise FunctionError(payload)

    dev = DevServer("127.0.0.1", 0, s3=None, site_bucket="unused")
    dev.set_api(HttpApi.from_template(load_template(), SEARCH_FUNCTION,
                                      local_resources(dev.url, "http://127.0.0.1:1").resolve), failing)
    dev.start()
    try:
        # WHEN the page searches
        status, headers, body = request(dev.url + "/api/search", "POST", {"Origin": dev.url}, b"{}")
    finally:
        dev.stop()
    # THEN the answer is API Gateway's for a failed integration: 500, its body, the API's CORS headers
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["access-control-allow-origin"] == dev.url
