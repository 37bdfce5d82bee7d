"""The demo's re-index over HTTP (`make demo`'s /local/reindex): the stack's own featurize containers
make the shards, publish's steps make the new version live, and the page, the daemon and the search
API all move to it. The stack is the re-index stack of tests/conftest.py (its own: a re-index changes
the live version), shared with tests/e2e/test_reindex_page.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from devstack.s3server import client

pytestmark = pytest.mark.integration
RUN_TIMEOUT_S = 240


def call(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - the stack's loopback URL
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start(stack: dict) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Origin": stack["url"].rstrip("/")}  # as the page sends it
    return call(stack["reindex"], "POST", b"{}", headers)


def wait_done(stack: dict) -> tuple[dict, list[dict]]:
    """Poll until the run ends; the last progress and every one seen."""
    seen: list[dict] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status, progress = call(stack["reindex"])
        assert status == 200, progress
        seen.append(progress)
        if progress["state"] != "running":
            return progress, seen
        time.sleep(0.3)
    pytest.fail(f"the re-index did not end within {RUN_TIMEOUT_S} s: {seen[-1]}")


def test_a_reindex_from_the_demo_makes_a_new_live_version(reindex_stack):
    stack = reindex_stack
    s3 = client("s3", stack["s3_endpoint"])
    status, before = call(stack["reindex"])
    assert status == 200 and before["state"] in ("idle", "done")  # done: the e2e test ran first
    albums = json.loads(s3.get_object(Bucket=stack["site_bucket"], Key="albums.json")["Body"].read())
    # WHEN the page's request starts a run, and a second one comes while it runs
    started = time.monotonic()
    status, first = start(stack)
    assert status == 202 and first["state"] == "running", first
    status, refused = start(stack)
    # THEN the second is refused with a clear message, and nothing else starts
    assert status == 409 and refused["error"]["code"] == "busy", refused
    assert refused["error"]["message"].startswith("a re-index is already running")
    done, seen = wait_done(stack)
    took = time.monotonic() - started
    print(f"re-index of the demo stack: {took:.1f} s, {done['total']} images, "
          f"{done['images_per_s']} images/s")
    # AND the run ended with a new live version, the previous one named
    assert done["state"] == "done" and done["error"] is None, done
    assert done["previous_version"] == albums["index"]["version"]
    assert done["version"] != done["previous_version"]
    assert done["done"] == done["total"] == albums["index"]["count"]
    assert done["images_per_s"] > 0
    # AND on the way the progress said how many images of how many, and the time left
    featurizing = [p for p in seen if p["total"] is not None and p["state"] == "running"]
    assert featurizing and all(0 <= p["done"] <= p["total"] for p in featurizing)
    # AND the shards were made by the function through the queue (one record per batch of 4)
    shards = s3.list_objects_v2(Bucket=stack["gallery_bucket"], Prefix=f"reindex/{done['run']}/shards/")
    records = [o["Key"] for o in shards.get("Contents", []) if o["Key"].endswith(".json")]
    assert len(records) == -(-done["total"] // 4)
    # AND the daemon serves it, albums.json's index summary names it, config.js still offers the re-index
    assert done["daemon_version"] == done["version"]
    albums = json.loads(s3.get_object(Bucket=stack["site_bucket"], Key="albums.json")["Body"].read())
    assert albums["index"]["version"] == done["version"]
    config = s3.get_object(Bucket=stack["site_bucket"], Key="config.js")["Body"].read().decode()
    assert '"localReindex": ' not in config and 'localReindex: "/local/reindex"' in config
    # AND a search answers from the new version (its result cache warmed for it)
    key = next(a["cover"] for a in albums["albums"] if a.get("cover"))
    status, answer = call(stack["api"] + "/search", "POST", json.dumps({"key": key, "k": 3}).encode(),
                          {"Content-Type": "application/json"})
    assert status == 200, answer
    assert answer["index"]["version"] == done["version"]


def test_the_endpoint_refuses_what_the_page_never_sends(reindex_stack):
    url = reindex_stack["reindex"]
    status, answer = call(url, "POST", b"{}", {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in answer["error"]["message"]
    status, answer = call(url, "POST", b"{}", {"Content-Type": "application/json",
                                              "Origin": "https://elsewhere.example"})
    assert status == 403 and answer["error"]["code"] == "forbidden"
    status, answer = call(url, "PUT", b"{}", {"Content-Type": "application/json"})
    assert status == 405
    status, answer = call(reindex_stack["url"] + "local/nothing")
    assert status == 404 and answer["error"]["code"] == "not_found"
    # The deployed API has no such route: under /api it is API Gateway's 404.
    status, answer = call(reindex_stack["api"] + "/local/reindex", "POST", b"{}",
                          {"Content-Type": "application/json"})
    assert (status, answer) == (404, {"message": "Not Found"})
    # None of these started a run.
    assert call(url)[1]["state"] in ("idle", "done")
