"""The handler run in-process on HTTP API v2 events: moto for S3 and EC2, a Stubber for SSM."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.stub import ANY

EVENTS = Path(__file__).resolve().parents[3] / "events"

# Every file in events/ with what the handler answers for it (a new event must be added here).
EXPECTED = {
    "search_ok.json": (200, None),
    "search_k10.json": (200, None),
    "search_base64.json": (200, None),
    "bad_k.json": (400, "bad_k"),
    "missing_key.json": (400, "missing_field"),
    "hostile_key.json": (400, "bad_key"),
    "malformed_body.json": (400, "malformed_body"),
    # Bytes that are not UTF-8 (plain or base64) or not base64 are the caller's fault, not a 500.
    "bad_utf8_body.json": (400, "malformed_body"),
    "bad_utf8_base64.json": (400, "malformed_body"),
    "bad_base64.json": (400, "malformed_body"),
    "unknown_field.json": (400, "unknown_field"),
    "no_such_image.json": (404, "not_found"),
    "uploads_ok.json": (200, None),
    "search_unknown_upload.json": (404, "upload_not_found"),
    "search_bad_upload_id.json": (400, "bad_upload"),
    # fresh without the operator's token (docs/function.md, "Fresh"): refused before any AWS call.
    "search_fresh_no_token.json": (403, "forbidden"),
}


@pytest.fixture
def wired(aws, ssm_stub, search_app, fake_time):
    """The app with moto S3/EC2, a stubbed SSM, a running tagged instance and a clock that never waits."""
    instance_id = aws.launch()
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3))
    search_app._service.clock, search_app._service.sleep = fake_time, fake_time.sleep
    return SimpleNamespace(app=search_app, s3=aws.s3, ec2=aws.ec2, stub=ssm_stub.stubber,
                           instance_id=instance_id, time=fake_time, aws=aws)


def _body_of(event: dict) -> dict:
    raw = event["body"]
    return json.loads(base64.b64decode(raw) if event.get("isBase64Encoded") else raw)


def queue_success(wired, answers, key: str, k: int, keys=None, path: str = "warm") -> list[str]:
    """Queue SendCommand (checking its parameters) and a Success invocation; the gallery keys returned."""
    keys = list(keys if keys is not None else answers.gallery_keys[:k])
    wired.stub.add_response("send_command", answers.send(), {
        "InstanceIds": [wired.instance_id], "DocumentName": answers.document,
        # every query image is in the gallery bucket: albums/<a>/<f> names gallery/<a>/<f> (issue 22)
        "Parameters": {"bucket": [answers.gallery_bucket], "key": [key.replace("albums/", "gallery/", 1)],
                       "k": [str(k)]},
        "TimeoutSeconds": 30, "Comment": ANY,
    })
    wired.stub.add_response("get_command_invocation",
                            answers.invocation("Success", stdout=answers.agent_stdout(keys, path=path),
                                               instance_id=wired.instance_id),
                            {"CommandId": answers.command_id, "InstanceId": wired.instance_id})
    return keys


def test_every_event_file_has_an_expected_answer():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_handler_answers_each_event(name, wired, ssm_answers, load_event, lambda_context):
    # GIVEN an event from events/ (SSM answers queued only where a search should run)
    event = load_event(name)
    status, code = EXPECTED[name]
    if status == 200 and event["rawPath"] == "/search":
        request = _body_of(event)
        queue_success(wired, ssm_answers, request["key"], request["k"])

    # WHEN the handler runs in-process
    response = wired.app.lambda_handler(event, lambda_context)

    # THEN it answers as expected, with JSON, and makes exactly the queued SSM calls; CORS headers are
    # the HTTP API's to add (tests/integration/test_devserver.py), never the function's
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    assert not [name for name in response["headers"] if name.lower().startswith("access-control-")]
    answer = json.loads(response["body"])
    if event["rawPath"] == "/search" or code:
        assert answer["request_id"] == event["requestContext"]["requestId"]
    if code:
        assert answer["error"]["code"] == code and answer["error"]["message"]
    elif event["rawPath"] == "/uploads":
        assert set(answer) == {"upload_id", "url", "fields", "max_bytes", "expires_in"}
    else:
        assert len(answer["results"]) == _body_of(event)["k"]
    wired.stub.assert_no_pending_responses()


def test_a_good_search_answers_the_api_contract(wired, ssm_answers, load_event, lambda_context):
    # GIVEN the agent finds five matches on the warm path
    event = load_event("search_ok")
    keys = queue_success(wired, ssm_answers, ssm_answers.query_key, 5)

    # WHEN the page asks
    answer = json.loads(wired.app.lambda_handler(event, lambda_context)["body"])

    # THEN the answer has the query, five copied results with URLs, every timing, the index and path
    assert answer["query"] == {"key": ssm_answers.query_key,
                               "url": "https://site.example/previews/marble/marble_0001.png"}
    assert [r["key"] for r in answer["results"]] == [f"results/{k}" for k in keys]
    assert [r["url"] for r in answer["results"]] == [f"https://site.example/results/{k}" for k in keys]
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)
    assert set(answer["timings_ms"]) == {"ssm_send", "ssm_wait", "search", "copy", "total"}
    assert answer["timings_ms"]["search"] == 12.5
    assert answer["index"] == {"version": "v1", "count": len(ssm_answers.gallery_keys), "mode": "lsh"}
    assert answer["path"] == "warm"
    assert "missing" not in answer
    for key in keys:
        assert wired.s3.get_object(Bucket=ssm_answers.site_bucket, Key=f"results/{key}")["Body"].read()
    # The first status poll came after 0.1 s.
    assert wired.time.sleeps == [0.1]


def test_each_match_carries_the_agents_band(wired, ssm_answers, load_event, lambda_context):
    queue_success(wired, ssm_answers, ssm_answers.query_key, 5)
    answer = json.loads(wired.app.lambda_handler(load_event("search_ok"), lambda_context)["body"])
    assert [r["band"] for r in answer["results"]] == ["near_duplicate", "similar", "weak", "weak", "weak"]


def test_min_score_leaves_out_the_matches_below_it(wired, ssm_answers, load_event, lambda_context):
    # GIVEN the agent's five matches score 0.99, 0.98, 0.97, 0.96, 0.95
    event = load_event("search_ok")
    body = _body_of(event)
    event["body"] = json.dumps({**body, "min_score": 0.97})
    queue_success(wired, ssm_answers, ssm_answers.query_key, body["k"])

    answer = json.loads(wired.app.lambda_handler(event, lambda_context)["body"])

    # THEN only the three at or above 0.97 are answered (and copied); the command was the same
    assert [r["score"] for r in answer["results"]] == [0.99, 0.98, 0.97]


def test_a_hostile_min_score_is_400_before_any_aws_call(wired, load_event, lambda_context):
    event = load_event("search_ok")
    event["body"] = json.dumps({**_body_of(event), "min_score": "1; rm -rf /"})
    response = wired.app.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_min_score"


def test_cold_path_is_passed_through(wired, ssm_answers, load_event, lambda_context):
    queue_success(wired, ssm_answers, ssm_answers.query_key, 5, path="cold")
    answer = json.loads(wired.app.lambda_handler(load_event("search_ok"), lambda_context)["body"])
    assert answer["path"] == "cold"


def test_a_failed_copy_is_reported_not_hidden(wired, ssm_answers, load_event, lambda_context):
    # GIVEN one match the agent names has vanished from the gallery bucket
    keys = ssm_answers.gallery_keys[:4] + ["gallery/marble/vanished.png"]
    queue_success(wired, ssm_answers, ssm_answers.query_key, 5, keys=keys)

    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)

    # THEN the search still answers, and says which result is missing
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["missing"] == ["gallery/marble/vanished.png"]
    last = answer["results"][-1]
    assert last == {"key": "results/gallery/marble/vanished.png", "url": None, "score": last["score"],
                    "band": "weak", "error": "copy_failed"}
    assert all(r["url"] for r in answer["results"][:4])


def test_no_running_instance_is_503_saying_so(aws, ssm_stub, search_app, load_event, lambda_context):
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3))
    response = search_app.lambda_handler(load_event("search_ok"), lambda_context)
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    error = json.loads(response["body"])["error"]
    assert error["code"] == "no_instance"
    assert "no search instance is running" in error["message"]


def test_the_deadline_cancels_the_command_and_answers_504(wired, ssm_answers, load_event, lambda_context):
    # GIVEN the command stays in progress and time jumps past the deadline at the first wait
    wired.time.jump = 100.0
    wired.stub.add_response("send_command", ssm_answers.send())
    wired.stub.add_response("get_command_invocation", ssm_answers.invocation("InProgress"))
    wired.stub.add_response("cancel_command", {},
                            {"CommandId": ssm_answers.command_id, "InstanceIds": [wired.instance_id]})

    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)

    # THEN the function answers 504 itself and the command was cancelled
    assert response["statusCode"] == 504
    assert json.loads(response["body"])["error"]["code"] == "deadline_exceeded"
    wired.stub.assert_no_pending_responses()


def test_the_deadline_follows_the_remaining_lambda_time(wired, ssm_answers, load_event, lambda_context):
    # GIVEN only 1 s left in the Lambda (less than its 1.5 s safety margin): no time to search at all
    lambda_context.remaining_ms = 1000
    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)
    assert response["statusCode"] == 504
    wired.stub.assert_no_pending_responses()


def test_the_agents_own_error_code_is_answered(wired, ssm_answers, load_event, lambda_context):
    wired.stub.add_response("send_command", ssm_answers.send())
    failed = json.dumps({"ok": False, "error": {"code": "bad_image", "message": "not an image"}})
    wired.stub.add_response("get_command_invocation", ssm_answers.invocation("Failed", stdout=failed, code=2))
    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)
    # A bad query image is the input's fault: 422, so 5xx alarms mean our faults only.
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["error"] == {
        "code": "bad_image", "message": "the query image could not be read as an image"}


@pytest.mark.parametrize(("code", "status"), [("bad_image", 422), ("too_large", 422), ("misconfigured", 500),
                                              ("index_unavailable", 503), ("internal", 502)])
def test_agent_errors_map_to_their_status_and_never_leak_the_agents_words(
        wired, ssm_answers, load_event, lambda_context, code, status, caplog):
    # GIVEN the agent fails with a message naming the private bucket and an internal path
    secret = "s3://acme-prod-gallery/index/v7 has no manifest (/var/lib/imagesearch/cache/v7)"
    wired.stub.add_response("send_command", ssm_answers.send())
    failed = json.dumps({"ok": False, "error": {"code": code, "message": secret}})
    wired.stub.add_response("get_command_invocation", ssm_answers.invocation("Failed", stdout=failed, code=1))
    # WHEN the handler answers
    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)
    # THEN the status is the code's, the answer has a generic message and the request id, and the
    # detail of a fault of ours went to the log (refusals log at info, below this test's level)
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    assert body["error"]["code"] == code and body["request_id"]
    assert "gallery" not in response["body"] and "/var/lib" not in response["body"]
    logged = [r for r in caplog.records if getattr(r, "error", None) == secret]
    assert bool(logged) is (status >= 500)


def test_undeliverable_forgets_the_cached_instance(wired, ssm_answers, load_event, lambda_context,
                                                  monkeypatch):
    monkeypatch.setenv("INSTANCE_CACHE_SECONDS", "300")
    wired.stub.add_response("send_command", ssm_answers.send())
    wired.stub.add_response("get_command_invocation", ssm_answers.invocation("Failed", "Undeliverable"))
    response = wired.app.lambda_handler(load_event("search_ok"), lambda_context)
    assert response["statusCode"] == 503
    assert wired.app._service.instances._entry is None


def test_throttled_describe_is_429(aws, ssm_stub, search_app, load_event, lambda_context):
    import boto3
    from botocore.stub import Stubber

    ec2 = boto3.client("ec2", region_name="us-east-1")
    search_app.use_clients(search_app.SearchClients(ec2=ec2, ssm=ssm_stub.client, s3=aws.s3))
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", service_error_code="RequestLimitExceeded",
                              http_status_code=503)
        response = search_app.lambda_handler(load_event("search_ok"), lambda_context)
    assert response["statusCode"] == 429
    assert json.loads(response["body"])["error"]["code"] == "throttled"


def test_missing_settings_are_a_clear_500(search_app, load_event, lambda_context, monkeypatch):
    monkeypatch.delenv("SEARCH_DOCUMENT_NAME")
    response = search_app.lambda_handler(load_event("search_ok"), lambda_context)
    assert response["statusCode"] == 500
    error = json.loads(response["body"])["error"]
    # The caller is told it is a misconfiguration; which setting is missing goes to the log only.
    assert error["code"] == "misconfigured" and "SEARCH_DOCUMENT_NAME" not in error["message"]


def _emf_blobs(capsys) -> list[dict]:
    """The EMF objects the function printed to stdout (one JSON object per line with an `_aws` key)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def _metrics_of(blob: dict) -> dict[str, str]:
    """{metric name: unit} declared in one EMF object."""
    return {m["Name"]: m["Unit"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def _dimensions_of(blob: dict) -> set[str]:
    return {name for d in blob["_aws"]["CloudWatchMetrics"] for names in d["Dimensions"] for name in names}


def _value(blob: dict, name: str) -> float:
    """A metric's one value in an EMF object (EMF allows a number or a list of numbers)."""
    value = blob[name]
    if isinstance(value, list):
        (value,) = value
    return value


def test_a_search_emits_its_stage_latencies(wired, ssm_answers, load_event, lambda_context, capsys):
    # GIVEN a search that succeeds WHEN the handler answers
    queue_success(wired, ssm_answers, ssm_answers.query_key, 5)
    capsys.readouterr()
    answer = json.loads(wired.app.lambda_handler(load_event("search_ok"), lambda_context)["body"])

    # THEN its EMF output carries each stage's latency in milliseconds, equal to the answer's timings
    blobs = _emf_blobs(capsys)
    (blob,) = [b for b in blobs if "latency_total" in _metrics_of(b)]
    for stage in ("ssm_send", "ssm_wait", "copy", "total"):
        assert _metrics_of(blob)[f"latency_{stage}"] == "Milliseconds"
        assert _value(blob, f"latency_{stage}") == answer["timings_ms"][stage]
    assert not [b for b in blobs if "errors" in _metrics_of(b)]
    assert {d["Namespace"] for b in blobs for d in b["_aws"]["CloudWatchMetrics"]} == {"ImageSearchTest"}


@pytest.mark.parametrize(("case", "code"), [("bad_k", "bad_k"), ("copy_failed", "copy_failed")])
def test_an_error_emits_errors_with_its_code(wired, ssm_answers, load_event, lambda_context, capsys, case,
                                             code):
    # GIVEN a refused request, or a search where one match cannot be copied
    if case == "copy_failed":
        keys = ssm_answers.gallery_keys[:4] + ["gallery/marble/vanished.png"]
        queue_success(wired, ssm_answers, ssm_answers.query_key, 5, keys=keys)
    capsys.readouterr()
    wired.app.lambda_handler(load_event("search_ok" if case == "copy_failed" else case), lambda_context)

    # THEN one EMF object counts `errors` with the code as a dimension, and the invocation's own
    # metrics count it without one
    blobs = [b for b in _emf_blobs(capsys) if "errors" in _metrics_of(b)]
    (by_code,) = [b for b in blobs if "code" in _dimensions_of(b)]
    assert (by_code["code"], _value(by_code, "errors"), _metrics_of(by_code)["errors"]) == (code, 1, "Count")
    assert [_value(b, "errors") for b in blobs if "code" not in _dimensions_of(b)] == [1]
    assert {d["Namespace"] for b in blobs for d in b["_aws"]["CloudWatchMetrics"]} == {"ImageSearchTest"}


def _captured_logs(app, run) -> list[dict]:
    """JSON log lines written while `run()` executes (the Logger keeps the stream it found at import)."""
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        run()
    finally:
        handler.setStream(previous)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_logs_carry_the_correlation_id(search_app, load_event, lambda_context):
    event = load_event("bad_k")
    search_app.logger.setLevel("INFO")
    try:
        logs = _captured_logs(search_app, lambda: search_app.lambda_handler(event, lambda_context))
    finally:
        search_app.logger.setLevel("WARNING")
    refused = [entry for entry in logs if entry.get("message") == "request refused"]
    assert refused and refused[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert refused[0]["code"] == "bad_k"


def test_plain_modules_log_with_the_correlation_id(wired, ssm_answers, load_event, lambda_context):
    keys = ssm_answers.gallery_keys[:4] + ["gallery/marble/vanished.png"]
    queue_success(wired, ssm_answers, ssm_answers.query_key, 5, keys=keys)
    event = load_event("search_ok")
    logs = _captured_logs(wired.app, lambda: wired.app.lambda_handler(event, lambda_context))
    copy_logs = [entry for entry in logs if entry["location"].startswith("copy_one:")]
    assert copy_logs and "vanished.png" in copy_logs[0]["message"]
    assert copy_logs[0]["correlation_id"] == event["requestContext"]["requestId"]


def test_a_bug_is_a_logged_500_with_the_request_id(aws, search_app, load_event, lambda_context):
    class BrokenSSM:
        def send_command(self, **_):
            raise RuntimeError("boom")

    aws.launch()
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=BrokenSSM(), s3=aws.s3))
    event = load_event("search_ok")
    responses: list[dict] = []
    logs = _captured_logs(search_app,
                          lambda: responses.append(search_app.lambda_handler(event, lambda_context)))
    assert responses[0]["statusCode"] == 500
    assert json.loads(responses[0]["body"])["error"]["code"] == "internal"
    errors = [entry for entry in logs if entry.get("message") == "unexpected error"]
    assert errors and "RuntimeError: boom" in errors[0]["exception"]
