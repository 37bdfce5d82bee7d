"""The search command: sent (moto), polled (Stubber status sequences), its ending mapped to an answer.

The polling rules every caller shares (not-yet, throttled polls, Cancelling) are tested once, on the
shared module, in test_ssm_command.py.
"""

from __future__ import annotations

import itertools
import json

import pytest
from command import output_of, send_search, wait_for_invocation
from deadline import Deadline
from errors import AgentFailed, DeadlineExceeded, InstanceUnavailable, Misconfigured
from moto import mock_aws

INSTANCE = "i-0123456789abcdef0"
CMD = "0b9a5e1e-3c4d-4f5e-8a7b-1c2d3e4f5a6b"
OTHER_ID = "7f000000-0000-4000-8000-000000000009"
KEY = "albums/marble/marble_0001.png"


def test_send_uses_the_document_the_instance_and_typed_parameters(aws, ssm_answers):
    import boto3

    instance_id = aws.launch()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        command_id = send_search(ssm, instance_id, ssm_answers.document, ssm_answers.site_bucket, KEY, 7,
                                 comment="image search req-1")
        sent = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert sent["DocumentName"] == ssm_answers.document
    assert sent["InstanceIds"] == [instance_id]
    assert sent["Parameters"] == {"bucket": [ssm_answers.site_bucket], "key": [KEY], "k": ["7"]}
    assert sent["Comment"] == "image search req-1"


def test_send_call_shape_is_exact(ssm_stub, ssm_answers):
    ssm_stub.stubber.add_response("send_command", ssm_answers.send(OTHER_ID), {
        "InstanceIds": [INSTANCE], "DocumentName": "Doc",
        "Parameters": {"bucket": ["site"], "key": [KEY], "k": ["10"]},
        "TimeoutSeconds": 30, "Comment": "c" * 100,
    })
    assert send_search(ssm_stub.client, INSTANCE, "Doc", "site", KEY, 10, comment="c" * 150) == OTHER_ID
    ssm_stub.stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("aws_code", "error", "code"), [
    ("InvalidInstanceId", InstanceUnavailable, "instance_not_ready"),
    ("InvalidDocument", Misconfigured, "misconfigured"),
    ("ThrottlingException", None, "throttled"),
    ("AccessDeniedException", Misconfigured, "misconfigured"),
])
def test_send_errors_become_domain_errors(ssm_stub, aws_code, error, code):
    ssm_stub.stubber.add_client_error("send_command", service_error_code=aws_code, http_status_code=400)
    with pytest.raises(error or Exception) as caught:
        send_search(ssm_stub.client, INSTANCE, "Doc", "site", KEY, 5)
    assert caught.value.code == code
    assert caught.value.__cause__ is not None


def test_not_yet_then_pending_then_in_progress_then_success(ssm_stub, ssm_answers, fake_time):
    # GIVEN the invocation does not exist yet, then runs, then succeeds
    stub = ssm_stub.stubber
    params = {"CommandId": CMD, "InstanceId": INSTANCE}
    stub.add_client_error("get_command_invocation", service_error_code="InvocationDoesNotExist",
                          http_status_code=400, expected_params=params)
    stub.add_response("get_command_invocation", ssm_answers.invocation("Pending"), params)
    stub.add_response("get_command_invocation", ssm_answers.invocation("InProgress", "In Progress"), params)
    done = ssm_answers.invocation("Success", stdout=ssm_answers.agent_stdout())
    stub.add_response("get_command_invocation", done, params)

    # WHEN we wait
    deadline = Deadline(at=fake_time() + 20, clock=fake_time)
    result = wait_for_invocation(ssm_stub.client, CMD, INSTANCE, deadline, sleep=fake_time.sleep)

    # THEN the first poll came after 0.1 s, the intervals grew, and the Success answer is returned
    assert result["Status"] == "Success"
    assert fake_time.sleeps == pytest.approx([0.1, 0.15, 0.225, 0.3375])
    assert json.loads(output_of(result, INSTANCE))["ok"] is True
    stub.assert_no_pending_responses()


def test_deadline_passes_the_command_is_cancelled_504(ssm_stub, ssm_answers, fake_time):
    # GIVEN a command that stays in progress and 1.2 s left, polled every 0.5 s
    stub = ssm_stub.stubber
    for _ in range(3):  # polls at 0.5, 1.0 and (capped) 1.2 s
        stub.add_response("get_command_invocation", ssm_answers.invocation("InProgress"))
    stub.add_response("cancel_command", {}, {"CommandId": CMD, "InstanceIds": [INSTANCE]})
    deadline = Deadline(at=fake_time() + 1.2, clock=fake_time)

    # WHEN we wait past the deadline
    with pytest.raises(DeadlineExceeded) as caught:
        wait_for_invocation(ssm_stub.client, CMD, INSTANCE, deadline, fake_time.sleep,
                            intervals=itertools.repeat(0.5))

    # THEN the command was cancelled and the answer is a 504 saying so
    assert caught.value.status == 504
    assert "cancelled" in caught.value.message
    assert fake_time.sleeps == pytest.approx([0.5, 0.5, 0.2])
    stub.assert_no_pending_responses()


def test_deadline_with_a_refused_cancel_is_still_504(ssm_stub, ssm_answers, fake_time):
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("InProgress"))
    ssm_stub.stubber.add_client_error("cancel_command", service_error_code="InvalidCommandId",
                                      http_status_code=400)
    deadline = Deadline(at=fake_time() + 0.5, clock=fake_time)
    with pytest.raises(DeadlineExceeded) as caught:
        wait_for_invocation(ssm_stub.client, CMD, INSTANCE, deadline, fake_time.sleep,
                            intervals=itertools.repeat(1.0))
    assert "left to time out" in caught.value.message
    ssm_stub.stubber.assert_no_pending_responses()


def _agent_error(code: str) -> str:
    return json.dumps({"ok": False, "error": {"code": code, "message": f"agent says {code}"}})


# (Status, StatusDetails, stdout, HTTP status, error code)
TERMINAL = [
    ("Failed", "Failed", _agent_error("bad_image"), 422, "bad_image"),
    ("Failed", "Failed", _agent_error("not_found"), 404, "not_found"),
    ("Failed", "Failed", _agent_error("bad_request"), 400, "bad_request"),
    ("Failed", "Failed", _agent_error("index_unavailable"), 503, "index_unavailable"),
    ("Failed", "Failed", _agent_error("too_large"), 422, "too_large"),
    ("Failed", "Failed", _agent_error("weights_unavailable"), 503, "weights_unavailable"),
    ("Failed", "Failed", _agent_error("internal"), 502, "internal"),
    ("Failed", "Failed", _agent_error("SOMETHING; odd"), 502, "agent_failed"),
    ("Failed", "Failed", "Traceback (most recent call last): ...", 502, "agent_failed"),
    ("Failed", "Failed", "", 502, "agent_failed"),
    ("Cancelled", "Canceled", "", 502, "command_cancelled"),
    ("TimedOut", "Delivery Timed Out", "", 503, "delivery_timed_out"),
    ("TimedOut", "Execution Timed Out", "", 504, "execution_timed_out"),
    ("TimedOut", "TimedOut", "", 504, "execution_timed_out"),
    ("Failed", "Undeliverable", "", 503, "undeliverable"),
    ("Undeliverable", "Undeliverable", "", 503, "undeliverable"),
    ("Failed", "Terminated", "", 502, "command_terminated"),
    ("Surprising", "Surprising", "", 502, "agent_failed"),
]


@pytest.mark.parametrize(("status", "details", "stdout", "http", "code"), TERMINAL,
                         ids=[f"{t[1]}-{t[4]}" for t in TERMINAL])
def test_each_terminal_status_maps_to_its_answer(ssm_stub, ssm_answers, fake_time, status, details, stdout,
                                                 http, code):
    ssm_stub.stubber.add_response("get_command_invocation",
                                  ssm_answers.invocation(status, details, stdout=stdout, code=1))
    deadline = Deadline(at=fake_time() + 20, clock=fake_time)
    result = wait_for_invocation(ssm_stub.client, CMD, INSTANCE, deadline, fake_time.sleep)
    with pytest.raises((AgentFailed, InstanceUnavailable, DeadlineExceeded)) as caught:
        output_of(result, INSTANCE)
    assert (caught.value.status, caught.value.code) == (http, code)
    assert caught.value.message
