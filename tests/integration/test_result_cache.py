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


def _not_warmed(stack_s3, stack, album_key: str) -> str:
    """An album image whose result cache entry is gone (as if the warm-up had not reached it).

    Every album image is in the index and in the gallery bucket (the site holds only its display
    copies); a new gallery object would be ingested into this shared stack, so an indexed image's
    entry is removed instead.
    """
    gallery_key = "gallery/" + album_key.removeprefix("albums/")
    digest = stack_s3.head_object(Bucket=stack["gallery_bucket"], Key=gallery_key)["Metadata"]["sha256"]
    stack_s3.delete_object(Bucket=stack["gallery_bucket"],
                           Key=f"cache/{live_version(stack_s3, stack)}/{digest}.json")
    return album_key


def test_an_image_not_warmed_takes_ssm_then_answers_from_the_cache(local_stack, stack_s3, album_keys):
    key = _not_warmed(stack_s3, local_stack, album_keys[-1])
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


def _wait_status(api: str, key: str, want: int, within_s: float = 60.0) -> None:
    """Until a search of `key` answers `want` (ingest makes an image searchable, or forgets it)."""
    deadline = time.monotonic() + within_s
    while post(api, {"key": key, "k": 1})[0] != want:
        assert time.monotonic() < deadline, f"{key} did not answer {want} within {within_s} s"
        time.sleep(1.0)


def test_a_forged_hash_cannot_change_another_images_entry(local_stack, stack_s3, album_keys):
    # GIVEN an album image, and an impostor put into the gallery whose metadata names the real
    # image's hash (ingest indexes and lists it: its own hash is computed from its bytes)
    real = album_keys[0]
    gallery = local_stack["gallery_bucket"]
    real_sha = stack_s3.head_object(Bucket=gallery, Key="gallery/" + real.removeprefix("albums/"))[
        "Metadata"]["sha256"]
    buf = io.BytesIO()
    Image.effect_noise((32, 32), 80).convert("RGB").save(buf, format="PNG")
    impostor = "gallery/forged/impostor.png"
    stack_s3.put_object(Bucket=gallery, Key=impostor, Body=buf.getvalue(), ContentType="image/png",
                        Metadata={"sha256": real_sha})
    try:
        _wait_status(local_stack["api"], impostor, 200)
        # AND the real image answered from its entry in the version that holds the impostor
        post(local_stack["api"], {"key": real, "k": 3})
        status, hit = post(local_stack["api"], {"key": real, "k": 3})
        assert status == 200 and hit["cache"] == "hit", hit
        entry_key = f"cache/{hit['index']['version']}/{real_sha}.json"
        before = stack_s3.get_object(Bucket=gallery, Key=entry_key)["Body"].read()

        # WHEN the impostor is searched past the cache
        status, answer = post(local_stack["api"], {"key": impostor, "k": 3, "fresh": True},
                              headers=fresh(local_stack))

        # THEN it is answered, nothing is filed under the real image's hash, the real image still hits
        assert status == 200 and answer["cache"] == "mismatch", answer
        assert stack_s3.get_object(Bucket=gallery, Key=entry_key)["Body"].read() == before
        status, again = post(local_stack["api"], {"key": real, "k": 3})
        assert again["cache"] == "hit" and again["results"] == hit["results"]
    finally:
        # The stack is the session's: the impostor leaves the gallery, the index and the page again.
        stack_s3.delete_object(Bucket=gallery, Key=impostor)
        _wait_status(local_stack["api"], impostor, 404)
