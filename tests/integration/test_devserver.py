"""The dev server's API side over loopback HTTP: the template's routes and CORS, applied as the HTTP API does.

On AWS the HTTP API answers preflights, adds the CORS headers and lets only the template's routes
reach the function; these tests hold the dev server to the same, with a recording stand-in for the
function. The local stack's function environment comes from the template too (last test).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from devstack.devserver import DevServer
from devstack.http_api import HttpApi
from devstack.intrinsics import LocalResources, UnresolvedValue
from devstack.stack import LOCAL_NAMES

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
    local = LocalResources(refs=LOCAL_NAMES, attributes={("SiteBucket", "WebsiteURL"): dev.url})
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
    api = HttpApi.from_template(template, SEARCH_FUNCTION, LocalResources(
        refs=LOCAL_NAMES, attributes={("SiteBucket", "WebsiteURL"): url}).resolve)
    assert api.routes == {("POST", "/search"), ("POST", "/uploads")}
    cors = template["Resources"]["SearchApi"]["Properties"]["CorsConfiguration"]
    assert api.cors.allow_origins == (url,)  # !GetAtt SiteBucket.WebsiteURL: the dev server's origin
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


def test_the_function_environment_is_the_templates_resolved_locally():
    # GIVEN the template's Globals and the function's own variables, with the local names
    template = load_template()
    local = LocalResources(refs=LOCAL_NAMES, attributes={("SiteBucket", "WebsiteURL"): "http://127.0.0.1:8000"})
    # WHEN resolved THEN each !Ref and !GetAtt is the local resource, and every plain value is kept
    env = local.resolve_all(function_environment(template, SEARCH_FUNCTION))
    assert env == {
        "POWERTOOLS_SERVICE_NAME": "image-search", "POWERTOOLS_METRICS_NAMESPACE": "ImageSearch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SITE_BUCKET": LOCAL_NAMES["SiteBucket"], "GALLERY_BUCKET": LOCAL_NAMES["GalleryBucket"],
        "SEARCH_DOCUMENT_NAME": LOCAL_NAMES["SearchDocument"], "INSTANCE_TAG_KEY": "ImageSearchRole",
        "INSTANCE_TAG_VALUE": "search", "PUBLIC_BASE_URL": "http://127.0.0.1:8000", "COPY_WORKERS": "10",
        "DEADLINE_SECONDS": "25", "MAX_UPLOAD_BYTES": str(10 * 1024 * 1024),
    }
    # A reference the local stack does not know stops it at start-up, naming the value.
    with pytest.raises(UnresolvedValue, match="SearchInstance"):
        local.resolve({"Ref": "SearchInstance"})
