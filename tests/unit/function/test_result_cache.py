"""The result cache in the function: keys, hits, misses, versions, corrupt entries, fresh, metrics."""

from __future__ import annotations

import hashlib
import json
import logging
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY
from cache_entries import CorruptEntry, decode_entry, encode_entry, entry_key, version_prefix

V1, V2 = "20250101T000000Z-aaaaaa", "20250202T000000Z-bbbbbb"
QUERY_BYTES = b"query"
SHA = hashlib.sha256(QUERY_BYTES).hexdigest()


@pytest.fixture
def cached(aws, ssm_stub, search_app, fake_time, ssm_answers, fresh_token, monkeypatch):
    """The wired app, the query image carrying its sha256 metadata, index/current.json naming V1."""
    monkeypatch.setenv("CACHE_VERSION_SECONDS", "0")
    instance_id = aws.launch()
    aws.s3.put_object(Bucket=ssm_answers.gallery_bucket, Key=ssm_answers.query_image, Body=QUERY_BYTES,
                      Metadata={"sha256": SHA})
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3,
                                                    params=fresh_token.ssm))
    search_app._service.clock, search_app._service.sleep = fake_time, fake_time.sleep
    state = SimpleNamespace(app=search_app, s3=aws.s3, stub=ssm_stub.stubber, instance_id=instance_id,
                            answers=ssm_answers, gallery=ssm_answers.gallery_bucket, fresh=fresh_token)
    state.set_version = lambda v: aws.s3.put_object(Bucket=state.gallery, Key="index/current.json",
                                                    Body=json.dumps({"version": v}).encode())
    state.set_version(V1)
    return state


def agent_answer(version: str, keys: list[str], searched: str | None = SHA) -> str:
    """The agent's answer; `searched` is the hash of the bytes it read (None: it names none)."""
    query = {"query": {"sha256": searched}} if searched is not None else {}
    return json.dumps({"ok": True, "path": "warm", "indexed": True, **query,
                       "results": [{"key": k, "score": round(0.9 - i * 0.01, 6)} for i, k in enumerate(keys)],
                       "index": {"version": version, "count": 12, "mode": "exact"},
                       "timings_ms": {"featurize": 0.0, "search": 1.0, "total": 4.0}})


def queue_agent(state, version: str, asked_k: int = 10, bucket: str | None = None,
                key: str | None = None, searched: str | None = SHA) -> list[str]:
    keys = state.answers.gallery_keys[:10]
    state.stub.add_response("send_command", state.answers.send(), {
        "InstanceIds": [state.instance_id], "DocumentName": state.answers.document,
        "Parameters": {"bucket": [bucket or state.answers.gallery_bucket],
                       "key": [key or state.answers.query_image], "k": [str(asked_k)]},
        "TimeoutSeconds": 30, "Comment": ANY})
    state.stub.add_response("get_command_invocation",
                            state.answers.invocation("Success", stdout=agent_answer(version, keys, searched),
                                                     instance_id=state.instance_id),
                            {"CommandId": state.answers.command_id, "InstanceId": state.instance_id})
    return keys


def search(state, load_event, lambda_context, body: dict | None = None) -> dict:
    event = load_event("search_ok")
    if body is not None:
        event["body"] = json.dumps(body)
        if body.get("fresh"):
            event["headers"].update(state.fresh.header)
    response = state.app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def put_entry(state, version: str, keys: list[str], source: str = "warm") -> None:
    results = [{"key": k, "score": round(0.8 - i * 0.01, 6)} for i, k in enumerate(keys)]
    body = encode_entry(version, SHA, results, {"version": version, "count": 12, "mode": "exact"}, source)
    state.s3.put_object(Bucket=state.gallery, Key=entry_key(version, SHA), Body=body)


# ---------------------------------------------------------------- keys and format


@pytest.mark.parametrize("band", ["near_duplicate", "similar", "weak"])
def test_an_entry_keeps_each_matchs_band(band):
    raw = encode_entry(V1, SHA, [{"key": "gallery/a/b.png", "score": 0.5, "band": band}], {"version": V1},
                       "warm")
    assert decode_entry(raw, V1, SHA)["results"] == [{"key": "gallery/a/b.png", "score": 0.5, "band": band}]


def test_an_entry_drops_a_band_that_is_not_one():
    raw = encode_entry(V1, SHA, [{"key": "gallery/a/b.png", "score": 0.5, "band": "best"}], {"version": V1},
                       "warm")
    assert decode_entry(raw, V1, SHA)["results"][0]["band"] is None


def test_entry_key_is_version_and_content_hash():
    assert entry_key(V1, SHA) == f"cache/{V1}/{SHA}.json"
    assert version_prefix(V2) == f"cache/{V2}/"


@pytest.mark.parametrize("version, sha", [("../x", SHA), (V1, "ABC"), (V1, SHA + "/.."), ("v1", SHA)])
def test_entry_key_refuses_anything_else(version, sha):
    with pytest.raises(ValueError):
        entry_key(version, sha)


def test_an_entry_only_answers_for_its_own_key():
    raw = encode_entry(V1, SHA, [{"key": "gallery/a/b.png", "score": 0.5}], {"version": V1}, "warm")
    assert decode_entry(raw, V1, SHA)["results"] == [{"key": "gallery/a/b.png", "score": 0.5, "band": None}]
    with pytest.raises(CorruptEntry):
        decode_entry(raw, V2, SHA)
    with pytest.raises(CorruptEntry):
        decode_entry(raw, V1, "0" * 64)


# ---------------------------------------------------------------- hits and misses


def test_a_miss_asks_the_agent_for_10_then_the_same_image_is_a_hit(cached, load_event, lambda_context):
    # GIVEN an empty cache: the first search goes through SSM asking for the top 10
    keys = queue_agent(cached, V1)
    first = search(cached, load_event, lambda_context)
    assert first["path"] == "warm" and first["cache"] == "miss"
    assert [r["key"] for r in first["results"]] == [f"results/{k}" for k in keys[:5]]
    assert "cache_read" in first["timings_ms"] and "ssm_wait" in first["timings_ms"]
    # THEN the agent's top 10 is in the cache, under the version that computed it
    stored = json.loads(cached.s3.get_object(Bucket=cached.gallery, Key=entry_key(V1, SHA))["Body"].read())
    assert [r["key"] for r in stored["results"]] == keys and stored["source"] == "miss"

    # WHEN the same image is searched again (k=10 now): no SSM call, the cache answers
    second = search(cached, load_event, lambda_context, {"key": cached.answers.query_key, "k": 10})
    assert second["path"] == "cache" and second["cache"] == "hit"
    assert set(second["timings_ms"]) == {"cache_read", "copy", "total"}
    assert [r["key"] for r in second["results"]] == [f"results/{k}" for k in keys]
    # The cached answer is the agent's answer, and the matches are copied as on the SSM path.
    assert [r["score"] for r in second["results"][:5]] == [r["score"] for r in first["results"]]
    assert second["index"] == first["index"]
    for key in keys:
        assert cached.s3.head_object(Bucket=cached.answers.site_bucket, Key=f"results/{key}")
    cached.stub.assert_no_pending_responses()


def test_a_new_index_version_never_serves_the_old_versions_entries(cached, load_event, lambda_context):
    put_entry(cached, V1, cached.answers.gallery_keys[5:])
    assert search(cached, load_event, lambda_context)["path"] == "cache"

    # WHEN current.json moves to V2: the V1 entry is not read, the agent answers, V2 gets its entry
    cached.set_version(V2)
    queue_agent(cached, V2)
    answer = search(cached, load_event, lambda_context)
    assert answer["path"] == "warm" and answer["cache"] == "miss" and answer["index"]["version"] == V2
    assert cached.s3.get_object(Bucket=cached.gallery, Key=entry_key(V2, SHA))
    assert search(cached, load_event, lambda_context)["index"]["version"] == V2
    cached.stub.assert_no_pending_responses()


def test_the_live_version_is_reread_only_after_its_ttl(cached, load_event, lambda_context, monkeypatch):
    monkeypatch.setenv("CACHE_VERSION_SECONDS", "5")
    clock = SimpleNamespace(now=0.0)
    cached.app._service.live.clock = lambda: clock.now
    cached.app._service.live.forget()
    put_entry(cached, V1, cached.answers.gallery_keys[5:])
    assert search(cached, load_event, lambda_context)["cache"] == "hit"
    cached.set_version(V2)
    clock.now = 4.0  # still trusted: V1
    assert search(cached, load_event, lambda_context)["index"]["version"] == V1
    clock.now = 5.5  # re-read: V2, which has no entry yet
    queue_agent(cached, V2)
    assert search(cached, load_event, lambda_context)["cache"] == "miss"


def test_an_answer_of_another_version_is_written_under_that_version(cached, load_event, lambda_context):
    # The daemon may still hold V1 for a moment after current.json moved to V2.
    cached.set_version(V2)
    queue_agent(cached, V1)
    search(cached, load_event, lambda_context)
    assert cached.s3.get_object(Bucket=cached.gallery, Key=entry_key(V1, SHA))
    with pytest.raises(ClientError):
        cached.s3.head_object(Bucket=cached.gallery, Key=entry_key(V2, SHA))


def _entry_json(results: list) -> bytes:
    return json.dumps({"format": 1, "version": V1, "sha256": SHA, "index": {"version": V1},
                       "results": results}).encode()


@pytest.mark.parametrize("body", [
    b"{not json", b'{"format": 1}', b"[]",
    _entry_json([{"key": "albums/x/y.png", "score": 1}]),  # not a gallery key
    _entry_json([{"key": "gallery/x/y.png", "score": 1, "band": "excellent"}]),  # not a band
    _entry_json([{"key": "gallery/x/y.png", "score": 0.1}, {"key": "gallery/x/z.png", "score": 0.2}]),
])
def test_a_corrupt_entry_is_a_logged_miss(cached, load_event, lambda_context, body, caplog):
    cached.s3.put_object(Bucket=cached.gallery, Key=entry_key(V1, SHA), Body=body)
    queue_agent(cached, V1)
    with caplog.at_level(logging.WARNING, logger="search"):
        answer = search(cached, load_event, lambda_context)
    assert answer["path"] == "warm" and answer["cache"] == "miss"
    assert any("corrupt entry" in r.getMessage() for r in caplog.records)
    # The SSM answer replaced it.
    assert decode_entry(cached.s3.get_object(Bucket=cached.gallery, Key=entry_key(V1, SHA))["Body"].read(),
                        V1, SHA)["source"] == "miss"


def test_fresh_bypasses_the_cache(cached, load_event, lambda_context):
    put_entry(cached, V1, cached.answers.gallery_keys[5:])
    queue_agent(cached, V1)
    answer = search(cached, load_event, lambda_context,
                    {"key": cached.answers.query_key, "k": 5, "fresh": True})
    assert answer["path"] == "warm" and answer["cache"] == "bypass"
    cached.stub.assert_no_pending_responses()


@pytest.mark.parametrize("fresh", ["yes", 1, None])
def test_fresh_must_be_a_boolean(cached, load_event, lambda_context, fresh):
    event = load_event("search_ok")
    event["body"] = json.dumps({"key": cached.answers.query_key, "k": 5, "fresh": fresh})
    response = cached.app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["code"] == "bad_fresh"


def test_a_failed_cache_write_is_logged_and_the_search_answers(cached, load_event, lambda_context, caplog):
    queue_agent(cached, V1)
    real_put = cached.s3.put_object

    def refuse(**kwargs):
        if kwargs["Key"].startswith("cache/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        return real_put(**kwargs)

    cached.s3.put_object = refuse
    try:
        with caplog.at_level(logging.WARNING, logger="search"):
            answer = search(cached, load_event, lambda_context)
    finally:
        del cached.s3.put_object
    assert answer["path"] == "warm" and len(answer["results"]) == 5
    assert any("cannot write" in r.getMessage() for r in caplog.records)


def test_without_a_hash_or_a_live_version_the_cache_is_not_asked(cached, load_event, lambda_context):
    # An image published before hashes were recorded: SSM as before, asking for k only.
    answers = cached.answers
    cached.s3.put_object(Bucket=answers.gallery_bucket, Key=answers.query_image, Body=QUERY_BYTES)
    queue_agent(cached, V1, asked_k=5)
    answer = search(cached, load_event, lambda_context)
    assert answer["cache"] == "no_hash" and "cache_read" not in answer["timings_ms"]
    # No current.json: a miss (logged as nothing to read), SSM answers.
    cached.s3.put_object(Bucket=answers.gallery_bucket, Key=answers.query_image, Body=QUERY_BYTES,
                         Metadata={"sha256": SHA})
    cached.s3.delete_object(Bucket=cached.gallery, Key="index/current.json")
    queue_agent(cached, V1)
    assert search(cached, load_event, lambda_context)["cache"] == "miss"


def test_result_cache_off_skips_it(cached, load_event, lambda_context, monkeypatch):
    monkeypatch.setenv("RESULT_CACHE", "off")
    put_entry(cached, V1, cached.answers.gallery_keys[5:])
    queue_agent(cached, V1, asked_k=5)
    assert search(cached, load_event, lambda_context)["cache"] == "off"


def test_metrics_count_hits_and_misses(cached, load_event, lambda_context, capsys):
    queue_agent(cached, V1)
    search(cached, load_event, lambda_context)  # miss
    search(cached, load_event, lambda_context)  # hit
    search(cached, load_event, lambda_context)  # hit
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = {"cache_hit": 0, "cache_miss": 0}
    for blob in blobs:
        for name in counted:
            if name in blob:
                counted[name] += blob[name] if isinstance(blob[name], int | float) else sum(blob[name])
    assert counted == {"cache_hit": 2, "cache_miss": 1}
    names = {m["Name"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "latency_cache_read" in names


# ---------------------------------------------------------------- gallery images and uploads

GALLERY_QUERY = "gallery/album/query.png"


def _put_gallery_query(state, metadata: dict | None = None, body: bytes = QUERY_BYTES) -> None:
    """A gallery object and its public preview (only a gallery key the site shows is searched)."""
    state.s3.put_object(Bucket=state.gallery, Key=GALLERY_QUERY, Body=body, Metadata=metadata or {})
    state.s3.put_object(Bucket=state.answers.site_bucket, Key="previews/album/query.png", Body=b"preview")


def test_a_gallery_image_with_its_hash_is_cached_like_an_album_image(cached, load_event, lambda_context):
    # "More like this": the gallery object carries x-amz-meta-sha256 (publish, add_images).
    _put_gallery_query(cached, {"sha256": SHA})
    queue_agent(cached, V1, bucket=cached.gallery, key=GALLERY_QUERY)
    first = search(cached, load_event, lambda_context, {"key": GALLERY_QUERY, "k": 3})
    assert first["path"] == "warm" and first["cache"] == "miss" and first["query"] == {
        "key": GALLERY_QUERY, "url": "https://site.example/previews/album/query.png"}
    second = search(cached, load_event, lambda_context, {"key": GALLERY_QUERY, "k": 3})
    assert second["path"] == "cache" and second["cache"] == "hit"
    assert [r["score"] for r in second["results"]] == [r["score"] for r in first["results"]]


def test_a_gallery_image_without_a_hash_takes_the_ssm_path(cached, load_event, lambda_context):
    # Put by a user with another S3 client: no metadata, so no hash without downloading it.
    _put_gallery_query(cached)
    queue_agent(cached, V1, asked_k=3, bucket=cached.gallery, key=GALLERY_QUERY)
    answer = search(cached, load_event, lambda_context, {"key": GALLERY_QUERY, "k": 3})
    assert answer["path"] == "warm" and answer["cache"] == "no_hash"
    assert "cache_read" not in answer["timings_ms"]


def test_an_upload_bypasses_the_cache(cached, load_event, lambda_context):
    upload = "0123456789abcdef0123456789abcdef"
    cached.s3.put_object(Bucket=cached.gallery, Key=f"uploads/{upload}", Body=QUERY_BYTES,
                         ContentType="image/png", Metadata={"sha256": SHA})
    put_entry(cached, V1, cached.answers.gallery_keys[5:])  # even a matching entry is not read
    queue_agent(cached, V1, asked_k=4, bucket=cached.gallery, key=f"uploads/{upload}")
    answer = search(cached, load_event, lambda_context, {"upload": upload, "k": 4})
    assert answer["path"] == "warm" and answer["cache"] == "upload"
    assert "cache_read" not in answer["timings_ms"] and answer["query"] == {"upload": upload}


# ---------------------------------------------------------------- the hash the agent searched

IMPOSTOR_BYTES = b"impostor"
IMPOSTOR_SHA = hashlib.sha256(IMPOSTOR_BYTES).hexdigest()


def _entry(state, version: str = V1) -> dict | None:
    try:
        raw = state.s3.get_object(Bucket=state.gallery, Key=entry_key(version, SHA))["Body"].read()
    except ClientError:
        return None
    return decode_entry(raw, version, SHA)


def test_a_forged_hash_cannot_change_another_images_entry(cached, load_event, lambda_context, caplog):
    # GIVEN the real image's entry, and a gallery object whose metadata names the real image's hash
    put_entry(cached, V1, cached.answers.gallery_keys[5:])
    before = _entry(cached)
    _put_gallery_query(cached, {"sha256": SHA}, IMPOSTOR_BYTES)
    # WHEN the impostor is searched past the cache: the agent reports the hash of what it read
    queue_agent(cached, V1, bucket=cached.gallery, key=GALLERY_QUERY, searched=IMPOSTOR_SHA)
    with caplog.at_level(logging.WARNING, logger="search"):
        answer = search(cached, load_event, lambda_context, {"key": GALLERY_QUERY, "k": 3, "fresh": True})
    # THEN the answer is served, but the real image's entry is untouched and the mismatch is logged
    assert answer["path"] == "warm" and answer["cache"] == "mismatch" and len(answer["results"]) == 3
    assert _entry(cached) == before and before["source"] == "warm"
    assert any("not written" in r.getMessage() for r in caplog.records)
    # AND the real image still gets its own neighbours from the cache
    hit = search(cached, load_event, lambda_context)
    assert hit["cache"] == "hit"
    assert [r["key"] for r in hit["results"]] == [f"results/{k}" for k in cached.answers.gallery_keys[5:10]]
    cached.stub.assert_no_pending_responses()


@pytest.mark.parametrize("searched", [IMPOSTOR_SHA, None, "not-a-hash", SHA.upper()])
def test_a_miss_is_written_only_under_the_hash_the_agent_searched(cached, load_event, lambda_context,
                                                                  searched):
    # The object replaced between the HEAD and the agent's GET (or an agent naming no usable hash).
    keys = queue_agent(cached, V1, searched=searched)
    answer = search(cached, load_event, lambda_context)
    assert answer["cache"] == "mismatch" and answer["path"] == "warm"
    assert [r["key"] for r in answer["results"]] == [f"results/{k}" for k in keys[:5]]
    assert _entry(cached) is None


def test_metrics_count_mismatches(cached, load_event, lambda_context, capsys):
    queue_agent(cached, V1, searched=IMPOSTOR_SHA)
    search(cached, load_event, lambda_context)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = [blob["cache_mismatch"] for blob in blobs if "cache_mismatch" in blob]
    assert sum(v if isinstance(v, int | float) else sum(v) for v in values) == 1
