"""`fresh` only with the operator's token: 403 without it or with a wrong one, the SSM path with it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.stub import ANY

HEADER = "x-imagesearch-fresh-token"


class CountingParams:
    """moto's Parameter Store, counting get_parameter calls."""

    def __init__(self, ssm) -> None:
        self.ssm, self.calls = ssm, 0

    def get_parameter(self, **kwargs):
        self.calls += 1
        return self.ssm.get_parameter(**kwargs)


@pytest.fixture
def wired(aws, ssm_stub, search_app, fake_time, fresh_token):
    instance_id = aws.launch()
    params = CountingParams(fresh_token.ssm)
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3,
                                                    params=params))
    search_app._service.clock, search_app._service.sleep = fake_time, fake_time.sleep
    return SimpleNamespace(app=search_app, stub=ssm_stub.stubber, instance_id=instance_id, params=params,
                           token=fresh_token)


def _ask(wired, load_event, lambda_context, token: str | None, fresh: bool = True, key: str | None = None):
    event = load_event("search_ok")
    body = json.loads(event["body"])
    event["body"] = json.dumps({**body, "fresh": fresh, **({"key": key} if key else {})})
    if token is not None:
        event["headers"][HEADER] = token
    response = wired.app.lambda_handler(event, lambda_context)
    return response["statusCode"], json.loads(response["body"])


def _queue_search(wired, answers) -> None:
    wired.stub.add_response("send_command", answers.send(), {
        "InstanceIds": [wired.instance_id], "DocumentName": answers.document,
        "Parameters": {"bucket": [answers.gallery_bucket], "key": [answers.query_image], "k": ["5"]},
        "TimeoutSeconds": 30, "Comment": ANY})
    wired.stub.add_response("get_command_invocation",
                            answers.invocation("Success", stdout=answers.agent_stdout(),
                                               instance_id=wired.instance_id),
                            {"CommandId": answers.command_id, "InstanceId": wired.instance_id})


@pytest.mark.parametrize("token", [None, "", "wrong-token-of-some-length", "0f1e2d3c4b5a69788796a5b4c3d2e1f",
                                   "0f1e2d3c4b5a69788796a5b4c3d2e1f0 ", "é" * 32])
def test_fresh_without_the_right_token_is_refused_with_403(wired, load_event, lambda_context, token):
    status, answer = _ask(wired, load_event, lambda_context, token)
    assert status == 403 and answer["error"]["code"] == "forbidden"
    assert HEADER in answer["error"]["message"] and answer["request_id"]
    # No search was sent (the stubbed SSM would fail on any call).
    wired.stub.assert_no_pending_responses()


def test_a_missing_token_is_refused_without_reading_the_parameter(wired, load_event, lambda_context):
    assert _ask(wired, load_event, lambda_context, None)[0] == 403
    assert wired.params.calls == 0


def test_fresh_with_the_right_token_takes_the_ssm_path(wired, ssm_answers, load_event, lambda_context):
    _queue_search(wired, ssm_answers)
    status, answer = _ask(wired, load_event, lambda_context, wired.token.token)
    assert status == 200 and answer["path"] == "warm" and len(answer["results"]) == 5
    assert "ssm_wait" in answer["timings_ms"]
    wired.stub.assert_no_pending_responses()


def test_the_token_is_read_once_per_container_and_again_after_its_time(wired, ssm_answers, load_event,
                                                                        lambda_context, fake_time):
    wired.app._fresh.clock = fake_time
    for _ in range(3):
        _queue_search(wired, ssm_answers)
        assert _ask(wired, load_event, lambda_context, wired.token.token)[0] == 200
    assert wired.params.calls == 1
    # A rotated token reaches the container once the kept one is older than TOKEN_SECONDS.
    wired.token.ssm.put_parameter(Name=wired.token.parameter, Value="r" * 32, Type="SecureString",
                                  Overwrite=True)
    fake_time.now += 301
    assert _ask(wired, load_event, lambda_context, wired.token.token)[0] == 403
    _queue_search(wired, ssm_answers)
    assert _ask(wired, load_event, lambda_context, "r" * 32)[0] == 200
    assert wired.params.calls == 2


def test_a_search_without_fresh_needs_no_token(wired, ssm_answers, load_event, lambda_context):
    _queue_search(wired, ssm_answers)
    status, _ = _ask(wired, load_event, lambda_context, None, fresh=False)
    assert status == 200 and wired.params.calls == 0


@pytest.mark.parametrize("setup", ["unset", "no_parameter", "short"])
def test_without_a_usable_operator_token_fresh_is_refused_to_everyone(wired, load_event, lambda_context,
                                                                      monkeypatch, setup):
    if setup == "unset":
        monkeypatch.setenv("FRESH_TOKEN_PARAMETER", "")
    elif setup == "no_parameter":
        monkeypatch.setenv("FRESH_TOKEN_PARAMETER", "/imagesearch-test/absent")
    else:
        wired.token.ssm.put_parameter(Name=wired.token.parameter, Value="short", Type="SecureString",
                                      Overwrite=True)
    token = "short" if setup == "short" else wired.token.token
    status, answer = _ask(wired, load_event, lambda_context, token)
    assert status == 403 and answer["error"]["code"] == "forbidden"
    assert "not enabled" in answer["error"]["message"]
