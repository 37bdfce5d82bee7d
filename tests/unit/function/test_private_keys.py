"""Private gallery keys answer as missing ones: a gallery key is searched only when the site shows it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.stub import ANY

PRIVATE = "gallery/marble/private_scan.png"  # in the private bucket, never shown by the site
MISSING = "gallery/marble/no_such_file.png"


@pytest.fixture
def wired(aws, ssm_stub, search_app, fake_time, ssm_answers):
    instance_id = aws.launch()
    aws.s3.put_object(Bucket=ssm_answers.gallery_bucket, Key=PRIVATE, Body=b"private",
                      ContentType="image/png")
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3))
    search_app._service.clock, search_app._service.sleep = fake_time, fake_time.sleep
    return SimpleNamespace(app=search_app, s3=aws.s3, stub=ssm_stub.stubber, instance_id=instance_id)


def _search(wired, load_event, lambda_context, key: str) -> tuple[int, dict]:
    event = load_event("search_ok")
    event["body"] = json.dumps({"key": key, "k": 5})
    response = wired.app.lambda_handler(event, lambda_context)
    return response["statusCode"], json.loads(response["body"])


def _queue(wired, answers, key: str) -> None:
    wired.stub.add_response("send_command", answers.send(), {
        "InstanceIds": [wired.instance_id], "DocumentName": answers.document,
        "Parameters": {"bucket": [answers.gallery_bucket], "key": [key], "k": ["5"]},
        "TimeoutSeconds": 30, "Comment": ANY})
    wired.stub.add_response("get_command_invocation",
                            answers.invocation("Success", stdout=answers.agent_stdout(),
                                               instance_id=wired.instance_id),
                            {"CommandId": answers.command_id, "InstanceId": wired.instance_id})


def test_a_private_gallery_key_answers_exactly_like_a_missing_one(wired, load_event, lambda_context):
    # GIVEN a gallery object the site never shows, and a key with no object at all
    private = _search(wired, load_event, lambda_context, PRIVATE)
    missing = _search(wired, load_event, lambda_context, MISSING)
    # THEN both are the same 404, word for word apart from the key itself; no search was sent
    for status, answer in (private, missing):
        assert status == 404 and answer["error"]["code"] == "not_found"
    assert private[1]["error"]["message"].replace(PRIVATE, "K") == missing[1]["error"]["message"].replace(
        MISSING, "K")
    assert set(private[1]) == set(missing[1])
    wired.stub.assert_no_pending_responses()


def test_the_decision_never_reads_the_private_bucket(wired, load_event, lambda_context, ssm_answers):
    # Whatever the gallery holds, a key without a public copy is refused before the gallery is asked.
    asked = []
    wired.s3.meta.events.register("provide-client-params.s3.HeadObject",
                                  lambda params, **_: asked.append((params["Bucket"], params["Key"])))
    for key in (PRIVATE, MISSING):
        assert _search(wired, load_event, lambda_context, key)[0] == 404
    assert {bucket for bucket, _ in asked} == {ssm_answers.site_bucket}


@pytest.mark.parametrize("asked", [PRIVATE, "albums/marble/private_scan.png"])
def test_a_gallery_key_the_site_shows_is_searched(wired, load_event, lambda_context, ssm_answers, asked):
    # A listed image (asked by its gallery key or the older album form): its preview is in the site bucket.
    wired.s3.put_object(Bucket=ssm_answers.site_bucket, Key="previews/marble/private_scan.png", Body=b"p")
    _queue(wired, ssm_answers, PRIVATE)
    status, answer = _search(wired, load_event, lambda_context, asked)
    assert status == 200 and answer["query"]["key"] == asked and len(answer["results"]) == 5
    wired.stub.assert_no_pending_responses()


def test_a_shown_key_whose_gallery_object_is_gone_is_the_same_404(wired, load_event, lambda_context,
                                                                 ssm_answers):
    wired.s3.put_object(Bucket=ssm_answers.site_bucket, Key="previews/marble/no_such_file.png", Body=b"x")
    status, answer = _search(wired, load_event, lambda_context, MISSING)
    assert status == 404
    assert answer["error"] == {"code": "not_found", "message": f"there is no image {MISSING}"}
