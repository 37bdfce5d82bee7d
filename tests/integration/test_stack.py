"""The running local stack over real HTTP: page, albums, searches, errors, concurrency, shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration

TIMINGS = {"ssm_send", "ssm_wait", "search", "copy", "total"}
CACHED_TIMINGS = {"cache_read", "copy", "total"}


def post(api: str, body: bytes | dict, path: str = "/search", timeout: float = 60.0,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST JSON (or raw bytes) and return (status, decoded answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


# --- the site ---------------------------------------------------------------------------------------


def test_the_page_config_and_albums_come_from_the_site_bucket(local_stack):
    status, ctype, body = get(local_stack["url"])
    assert (status, ctype.split(";")[0]) == (200, "text/html")
    assert b'<script type="module" src="main.js">' in body
    status, ctype, body = get(local_stack["url"] + "config.js")
    assert (status, ctype.split(";")[0]) == (200, "text/javascript")
    # the demo also offers its local re-index (devstack only; docs/local.md)
    assert body.decode().strip() == 'export default { apiUrl: "/api", localReindex: "/local/reindex" };'
    status, _, body = get(local_stack["url"] + "albums.json")
    albums = json.loads(body)
    assert status == 200 and albums["albums"]
    assert albums["index"]["pretrained"] is False  # the demo builds with seeded weights, offline
    first = albums["albums"][0]
    # the cover is a gallery key (private); the page shows its thumbnail
    status, ctype, image = get(local_stack["url"] + first["cover"].replace("gallery/", "thumbs/", 1))
    assert status == 200 and ctype == "image/jpeg" and image


def test_a_missing_object_is_404(local_stack):
    assert get(local_stack["url"] + "albums/nope/nothing.png")[0] == 404


# --- searching --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 10])
def test_a_search_returns_k_results_whose_copies_exist(local_stack, stack_s3, album_keys, k):
    # GIVEN an image of an album WHEN searching for k matches
    key = album_keys[k]
    status, answer = post(local_stack["api"], {"key": key, "k": k})
    # THEN k results come back, each copied to results/ in the site bucket and served from there
    assert status == 200, answer
    assert len(answer["results"]) == k
    assert answer["query"]["key"] == key
    # Album images are warmed at publish: the result cache answers unless an index change intervened.
    assert set(answer["timings_ms"]) >= (CACHED_TIMINGS if answer["path"] == "cache" else TIMINGS)
    assert answer["path"] in ("cache", "warm", "cold")
    assert answer["request_id"]
    for result in answer["results"]:
        # The copy lives at results/<gallery key> in the site bucket (docs/contracts.md).
        copy_key = result["key"] if result["key"].startswith("results/") else "results/" + result["key"]
        assert copy_key.startswith("results/gallery/")
        assert isinstance(result["score"], float)
        head = stack_s3.head_object(Bucket=local_stack["site_bucket"], Key=copy_key)
        assert head["ContentLength"] > 0
        assert result["url"] == local_stack["url"] + copy_key
        status, ctype, data = get(result["url"])
        assert status == 200 and ctype.startswith("image/") and data
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_the_search_uses_the_warm_daemon(local_stack, album_keys):
    status, answer = post(local_stack["api"], {"key": album_keys[0], "k": 2, "fresh": True},
                          headers={"x-imagesearch-fresh-token": local_stack["fresh_token"]})
    assert status == 200, answer
    assert answer["path"] == "warm"


@pytest.mark.parametrize("k", [0, 11, -1, "5", 2.5, None, True, [5]])
def test_a_bad_k_is_400(local_stack, album_keys, k):
    status, answer = post(local_stack["api"], {"key": album_keys[0], "k": k})
    assert status == 400, answer
    assert answer["error"]["code"] and answer["error"]["message"]


def test_an_unknown_key_is_404(local_stack):
    status, answer = post(local_stack["api"], {"key": "albums/nosuchalbum/nothing.png", "k": 3})
    assert status == 404, answer
    assert answer["error"]["code"] == "not_found"


@pytest.mark.parametrize("key", [
    "albums/marble/../../etc/passwd",
    "../albums/marble/x.png",
    "albums/marble/x.png; rm -rf /",
    "albums/marble/$(reboot).png",
    "albums/marble/`id`.png",
    "albums/marble/x.png\nk=10",
    "results/gallery/marble/x.png",
    "/albums/marble/x.png",
    "albums/" + "a" * 65 + "/x.png",
    "",
    42,
])
def test_a_hostile_key_is_400(local_stack, key):
    status, answer = post(local_stack["api"], {"key": key, "k": 3})
    assert status == 400, answer
    assert answer["error"]["message"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"k": 3}', b""])
def test_a_malformed_body_is_400(local_stack, body):
    status, answer = post(local_stack["api"], body)
    assert status == 400, answer
    assert answer["error"]["code"]


def test_an_unknown_route_is_the_apis_404(local_stack):
    # Only the template's routes reach the function; the rest is API Gateway's own 404.
    status, answer = post(local_stack["api"], {"key": "albums/a/b.png", "k": 1}, path="/nope")
    assert (status, answer) == (404, {"message": "Not Found"})


def test_twenty_concurrent_searches_all_succeed(local_stack, album_keys):
    keys = [album_keys[i % len(album_keys)] for i in range(0, 20 * 3, 3)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda key: post(local_stack["api"], {"key": key, "k": 4}, timeout=120),
                                keys))
    failures = [(status, answer) for status, answer in answers if status != 200]
    assert not failures, failures[:3]
    assert all(len(answer["results"]) == 4 for _, answer in answers)
    assert {answer["query"]["key"] for _, answer in answers} == set(keys)


# --- the command ------------------------------------------------------------------------------------


def test_smoke_mode_searches_once_and_exits_0(stack_factory):
    # The same arguments as the session's stack (so its samples and index are reused), plus --smoke.
    stack = stack_factory("smoke")
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "--smoke", "--port", "0", "--count", stack.args[1],
         "--work-dir", str(stack.work_dir)],
        capture_output=True, text=True, timeout=900, env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "smoke: ok" in done.stdout
    answer = json.loads(done.stdout[done.stdout.index("\n{\n") + 1: done.stdout.rindex("\n}\n") + 2])
    assert len(answer["results"]) == 5
