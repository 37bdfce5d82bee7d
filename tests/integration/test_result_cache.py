"""The result cache on the running local stack: warmed at publish, filled on a miss, per index version."""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
from PIL import Image

from .test_stack import post

pytestmark = pytest.mark.integration


def fresh(stack) -> dict[str, str]:
    """The header that allows "fresh": the local stack's own token."""
    return {"x-imagesearch-fresh-token": stack["fresh_token"]}


def live_version(stack_s3, stack) -> str:
    raw = stack_s3.get_object(Bucket=stack["gallery_bucket"], Key="index/current.json")["Body"].read()
    return json.loads(raw)["version"]


def test_every_album_image_is_a_hit_right_after_publish(local_stack, album_keys):
    paths = {}
    for key in album_keys:
        status, answer = post(local_stack["api"], {"key": key, "k": 3})
        assert status == 200, answer
        paths[key] = answer["path"]
        if answer["path"] == "cache":
            assert set(answer["timings_ms"]) == {"cache_read", "copy", "total"}
            assert len(answer["results"]) == 3
    assert set(paths.values()) == {"cache"}, [k for k, p in paths.items() if p != "cache"]


def _new_album_image(stack_s3, stack, name: str) -> str:
    """An image the index has never seen, published as publish does (with its sha256 metadata)."""
    buf = io.BytesIO()
    Image.effect_noise((28, 28), 64).convert("RGB").save(buf, format="PNG")
    data = buf.getvalue()
    key = f"albums/extra/{name}.png"
    stack_s3.put_object(Bucket=stack["site_bucket"], Key=key, Body=data, ContentType="image/png",
                        Metadata={"sha256": hashlib.sha256(data).hexdigest()})
    return key


def test_an_image_not_warmed_takes_ssm_then_answers_from_the_cache(local_stack, stack_s3):
    key = _new_album_image(stack_s3, local_stack, "not_warmed")
    status, first = post(local_stack["api"], {"key": key, "k": 4})
    assert status == 200, first
    assert first["path"] in ("warm", "cold") and first["cache"] == "miss"
    status, second = post(local_stack["api"], {"key": key, "k": 4})
    assert status == 200, second
    assert second["path"] == "cache" and second["cache"] == "hit"
    # The cached answer is the agent's: same matches, same scores, same index version.
    pairs = [[(r["key"], r["score"]) for r in a["results"]] for a in (first, second)]
    assert pairs[0] == pairs[1]
    assert second["index"] == first["index"]
    status, bypass = post(local_stack["api"], {"key": key, "k": 4, "fresh": True}, headers=fresh(local_stack))
    assert status == 200 and bypass["path"] in ("warm", "cold") and bypass["cache"] == "bypass"


def test_a_new_index_version_makes_the_first_search_a_miss_again(local_stack, stack_s3, album_keys):
    # GIVEN an album image that answers from the cache
    key = album_keys[1]
    assert post(local_stack["api"], {"key": key, "k": 2})[1]["path"] == "cache"

    # WHEN a new index version goes live (the same arrays under a new version id)
    bucket = local_stack["gallery_bucket"]
    old = live_version(stack_s3, local_stack)
    new = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + hashlib.sha256(old.encode()).hexdigest()[:6]
    for obj in stack_s3.list_objects_v2(Bucket=bucket, Prefix=f"index/{old}/")["Contents"]:
        name = obj["Key"].rsplit("/", 1)[1]
        body = stack_s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if name == "manifest.json":
            body = json.dumps({**json.loads(body), "version": new}).encode()
        stack_s3.put_object(Bucket=bucket, Key=f"index/{new}/{name}", Body=body)
    stack_s3.put_object(Bucket=bucket, Key="index/current.json", Body=json.dumps({"version": new}).encode())
    time.sleep(5.5)  # the function trusts the version it read for CACHE_VERSION_SECONDS (5 s)

    # THEN the first search of the image is a miss (the old version's entry is never served)
    status, answer = post(local_stack["api"], {"key": key, "k": 2})
    assert status == 200, answer
    assert answer["cache"] == "miss" and answer["path"] in ("warm", "cold")

    # and once the daemon holds the new version, its answers fill the new version's cache
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answer = post(local_stack["api"], {"key": album_keys[2], "k": 2, "fresh": True},
                      headers=fresh(local_stack))[1]
        if answer["index"]["version"] == new:
            break
        time.sleep(2)
    assert answer["index"]["version"] == new, "the daemon did not load the new version"
    first = post(local_stack["api"], {"key": key, "k": 2})[1]
    second = post(local_stack["api"], {"key": key, "k": 2})[1]
    assert second["path"] == "cache" and second["index"]["version"] == new
    assert first["index"]["version"] == new


def test_fresh_without_the_operators_token_is_refused(local_stack, album_keys):
    for headers in ({}, {"x-imagesearch-fresh-token": "not-the-token-0123456789"}):
        body = {"key": album_keys[0], "k": 2, "fresh": True}
        status, answer = post(local_stack["api"], body, headers=headers)
        assert status == 403 and answer["error"]["code"] == "forbidden", answer


def test_a_forged_hash_cannot_change_another_images_entry(local_stack, stack_s3, album_keys):
    # GIVEN an album image answered from its entry (filled now if an earlier test moved the version)
    real = album_keys[0]
    post(local_stack["api"], {"key": real, "k": 3})
    status, hit = post(local_stack["api"], {"key": real, "k": 3})
    assert status == 200 and hit["cache"] == "hit", hit
    head = stack_s3.head_object(Bucket=local_stack["site_bucket"], Key=real)
    real_sha = head["Metadata"]["sha256"]
    version = hit["index"]["version"]
    entry_key = f"cache/{version}/{real_sha}.json"
    before = stack_s3.get_object(Bucket=local_stack["gallery_bucket"], Key=entry_key)["Body"].read()

    # WHEN another image whose metadata names the real image's hash is searched past the cache
    buf = io.BytesIO()
    Image.effect_noise((32, 32), 80).convert("RGB").save(buf, format="PNG")
    impostor = "albums/forged/impostor.png"
    stack_s3.put_object(Bucket=local_stack["site_bucket"], Key=impostor, Body=buf.getvalue(),
                        ContentType="image/png", Metadata={"sha256": real_sha})
    status, answer = post(local_stack["api"], {"key": impostor, "k": 3, "fresh": True},
                          headers=fresh(local_stack))

    # THEN it is answered, nothing is filed under the real image's hash, and the real image still hits
    assert status == 200 and answer["cache"] == "mismatch", answer
    after = stack_s3.get_object(Bucket=local_stack["gallery_bucket"], Key=entry_key)["Body"].read()
    assert after == before
    status, again = post(local_stack["api"], {"key": real, "k": 3})
    assert again["cache"] == "hit" and again["results"] == hit["results"]
