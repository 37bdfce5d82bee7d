"""The shared SSM code (functions/shared/ssm_command): the polling rules every caller relies on.

The search function, publish's refresh and any later function poll through this one module, so
its rules are tested here once: a missing invocation and a throttled poll are retried later,
`Cancelling` is not an end, the deadline cancels, and every status has one meaning.
"""

from __future__ import annotations

import itertools

import pytest
from ssm_command import CommandTimedOut, Ending, ending, poll_intervals, send_command, wait_for_invocation

INSTANCE = "i-0123456789abcdef0"
CMD = "0b9a5e1e-3c4d-4f5e-8a7b-1c2d3e4f5a6b"
POLL = {"CommandId": CMD, "InstanceId": INSTANCE}


def _wait(ssm_stub, fake_time, seconds: float = 20.0, **kwargs) -> dict:
    ends_at = fake_time() + seconds
    return wait_for_invocation(ssm_stub.client, CMD, INSTANCE, lambda: ends_at - fake_time(),
                               sleep=fake_time.sleep, **kwargs)


def test_poll_intervals_grow_to_a_cap():
    assert list(itertools.islice(poll_intervals(), 8)) == pytest.approx(
        [0.1, 0.15, 0.225, 0.3375, 0.50625, 0.759375, 1.0, 1.0])
    assert list(itertools.islice(poll_intervals(1.0, 1.5, 10.0), 4)) == pytest.approx([1.0, 1.5, 2.25, 3.375])


def test_a_missing_invocation_is_asked_again(ssm_stub, ssm_answers, fake_time):
    # GIVEN SSM has not registered the invocation yet at the first poll
    ssm_stub.stubber.add_client_error("get_command_invocation", service_error_code="InvocationDoesNotExist",
                                      http_status_code=400, expected_params=POLL)
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("Success"), POLL)
    # WHEN waiting THEN the next poll finds it
    assert _wait(ssm_stub, fake_time)["Status"] == "Success"
    ssm_stub.stubber.assert_no_pending_responses()


def test_a_throttled_poll_just_waits_longer(ssm_stub, ssm_answers, fake_time):
    ssm_stub.stubber.add_client_error("get_command_invocation", service_error_code="ThrottlingException",
                                      http_status_code=400)
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("Success", stdout="{}"))
    result = _wait(ssm_stub, fake_time)
    assert result["Status"] == "Success"
    assert fake_time.sleeps == pytest.approx([0.1, 0.15])


@pytest.mark.parametrize("final", ["Cancelled", "Success"])
def test_cancelling_is_not_an_end(ssm_stub, ssm_answers, fake_time, final):
    # GIVEN a command SSM reports as Cancelling: the agent may still finish it before the cancel lands
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("Cancelling"))
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation(final))
    # WHEN waiting THEN polling goes on to the real end, whichever it is
    assert _wait(ssm_stub, fake_time)["Status"] == final
    ssm_stub.stubber.assert_no_pending_responses()


def test_other_errors_while_polling_are_raised_unchanged(ssm_stub, fake_time):
    from botocore.exceptions import ClientError

    ssm_stub.stubber.add_client_error("get_command_invocation", service_error_code="AccessDeniedException",
                                      http_status_code=400)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        _wait(ssm_stub, fake_time)


def test_at_the_deadline_the_command_is_cancelled(ssm_stub, ssm_answers, fake_time):
    # GIVEN a command still running and 1.2 s left, polled every 0.5 s
    for _ in range(3):
        ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("InProgress"))
    ssm_stub.stubber.add_response("cancel_command", {}, {"CommandId": CMD, "InstanceIds": [INSTANCE]})
    # WHEN the time runs out THEN it was cancelled, and the error says how far it got
    with pytest.raises(CommandTimedOut) as caught:
        _wait(ssm_stub, fake_time, seconds=1.2, intervals=itertools.repeat(0.5))
    assert (caught.value.polls, caught.value.cancelled, caught.value.last_status) == (3, True, "InProgress")
    assert fake_time.sleeps == pytest.approx([0.5, 0.5, 0.2])
    ssm_stub.stubber.assert_no_pending_responses()


def test_a_refused_cancel_is_reported_not_raised(ssm_stub, ssm_answers, fake_time):
    ssm_stub.stubber.add_response("get_command_invocation", ssm_answers.invocation("Pending"))
    ssm_stub.stubber.add_client_error("cancel_command", service_error_code="InvalidCommandId",
                                      http_status_code=400)
    with pytest.raises(CommandTimedOut) as caught:
        _wait(ssm_stub, fake_time, seconds=0.5, intervals=itertools.repeat(1.0))
    assert (caught.value.cancelled, caught.value.last_status) == (False, "Pending")


def test_send_passes_one_value_per_parameter_and_cuts_the_comment(ssm_stub, ssm_answers):
    ssm_stub.stubber.add_response("send_command", ssm_answers.send(CMD), {
        "InstanceIds": [INSTANCE], "DocumentName": "Doc", "Parameters": {"key": ["albums/a/b.png"]},
        "TimeoutSeconds": 30, "Comment": "c" * 100,
    })
    assert send_command(ssm_stub.client, INSTANCE, "Doc", {"key": "albums/a/b.png"}, comment="c" * 150,
                        delivery_timeout_s=30) == CMD
    # Without parameters, delivery timeout or comment, none of them is sent.
    ssm_stub.stubber.add_response("send_command", ssm_answers.send(CMD),
                                  {"InstanceIds": [INSTANCE], "DocumentName": "Doc"})
    assert send_command(ssm_stub.client, INSTANCE, "Doc") == CMD
    ssm_stub.stubber.assert_no_pending_responses()


# (Status, StatusDetails) -> how it ended; None = still running. Both fields are read, so either
# spelling of a detail is understood.
STATUSES = [
    ("Pending", "Pending", None),
    ("InProgress", "InProgress", None),
    ("InProgress", "In Progress", None),
    ("Delayed", "Delayed", None),
    ("Cancelling", "Cancelling", None),
    ("Success", "Success", Ending.SUCCESS),
    ("Failed", "Failed", Ending.FAILED),
    ("Failed", "InvalidPlatform", Ending.FAILED),
    ("Failed", "Undeliverable", Ending.UNDELIVERABLE),
    ("Undeliverable", "Undeliverable", Ending.UNDELIVERABLE),
    ("TimedOut", "Delivery Timed Out", Ending.DELIVERY_TIMED_OUT),
    ("TimedOut", "DeliveryTimedOut", Ending.DELIVERY_TIMED_OUT),
    ("TimedOut", "Execution Timed Out", Ending.EXECUTION_TIMED_OUT),
    ("TimedOut", "ExecutionTimedOut", Ending.EXECUTION_TIMED_OUT),
    ("TimedOut", "TimedOut", Ending.EXECUTION_TIMED_OUT),
    ("Failed", "Terminated", Ending.TERMINATED),
    ("Cancelled", "Cancelled", Ending.CANCELLED),
    ("Cancelled", "Canceled", Ending.CANCELLED),
    ("Surprising", "Surprising", Ending.UNKNOWN),
]


@pytest.mark.parametrize(("status", "details", "expected"), STATUSES,
                         ids=[f"{s}-{d}" for s, d, _ in STATUSES])
def test_every_status_has_one_meaning(status, details, expected):
    assert ending({"Status": status, "StatusDetails": details}) is expected
