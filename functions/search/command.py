"""Send the search document with SSM Run Command and poll its invocation to a terminal status."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from agent_output import agent_error
from botocore.exceptions import ClientError
from deadline import Deadline, Sleep
from errors import (
    AgentFailed,
    DeadlineExceeded,
    InstanceUnavailable,
    Misconfigured,
    error_code,
    from_client_error,
    is_throttle,
)

log = logging.getLogger("search")

# SendCommand's own minimum: the time SSM keeps trying to deliver the command to the instance.
DELIVERY_TIMEOUT_SECONDS = 30
# Status (and StatusDetails) values that mean "not finished yet".
NOT_DONE = frozenset({"Pending", "InProgress", "In Progress", "Delayed"})


def poll_intervals(first: float = 0.1, factor: float = 1.5, cap: float = 1.0) -> Iterator[float]:
    """Sleeps before each poll: 0.1, 0.15, 0.225, ... growing to `cap` s, so fast answers are seen fast."""
    interval = first
    while True:
        yield interval
        interval = min(interval * factor, cap)


def send_search(ssm: Any, instance_id: str, document: str, bucket: str, key: str, k: int,
                comment: str = "") -> str:
    """Send the search document to one instance with its typed parameters; the command id."""
    try:
        response = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=document,
            Parameters={"bucket": [bucket], "key": [key], "k": [str(k)]},
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            Comment=comment[:100],
        )
    except ClientError as e:
        code = error_code(e)
        if code == "InvalidInstanceId":
            raise InstanceUnavailable(
                f"the search instance {instance_id} cannot take commands (stopped, or its SSM agent is not "
                "registered)", code="instance_not_ready") from e
        if code in {"InvalidDocument", "InvalidDocumentVersion", "InvalidParameters"}:
            raise Misconfigured(f"the SSM document {document!r} rejected the request ({code})") from e
        raise from_client_error(e, "send the search command") from e
    return response["Command"]["CommandId"]


def cancel(ssm: Any, command_id: str, instance_id: str) -> bool:
    """Ask SSM to cancel the command; False (and a warning) if SSM refuses."""
    try:
        ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
    except ClientError as e:
        log.warning("could not cancel command %s: %s", command_id, error_code(e))
        return False
    return True


def wait_for_invocation(ssm: Any, command_id: str, instance_id: str, deadline: Deadline,
                        sleep: Sleep = time.sleep, intervals: Iterable[float] | None = None) -> dict:
    """Poll GetCommandInvocation to a terminal status; at the deadline cancel and raise DeadlineExceeded."""
    polls = 0
    for interval in intervals if intervals is not None else poll_intervals():
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        sleep(min(interval, remaining))
        polls += 1
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as e:
            # Right after SendCommand the invocation may not exist yet; a throttled poll just waits longer.
            if error_code(e) == "InvocationDoesNotExist" or is_throttle(e):
                continue
            if error_code(e) == "InvalidInstanceId":
                raise InstanceUnavailable(f"the search instance {instance_id} is no longer available",
                                          code="instance_not_ready") from e
            raise from_client_error(e, "read the search command's status") from e
        if {invocation.get("Status"), invocation.get("StatusDetails")} & NOT_DONE:
            continue
        log.debug("command %s finished after %d polls", command_id, polls)
        return invocation
    cancelled = cancel(ssm, command_id, instance_id)
    raise DeadlineExceeded(
        f"the search did not finish in time (after {polls} polls); the command was "
        + ("cancelled" if cancelled else "left to time out"))


def output_of(invocation: dict, instance_id: str) -> str:
    """The command's stdout for a Success; otherwise the domain error its terminal status means."""
    status = invocation.get("Status")
    names = {status, invocation.get("StatusDetails")}
    stdout = invocation.get("StandardOutputContent") or ""
    if "Undeliverable" in names:
        raise InstanceUnavailable(f"the search command could not be delivered to {instance_id} (stopped, "
                                  "terminated, or its SSM agent is not running)", code="undeliverable")
    if "Delivery Timed Out" in names:
        raise InstanceUnavailable(f"the search instance {instance_id} did not pick up the command in time",
                                  code="delivery_timed_out")
    if "Execution Timed Out" in names or status == "TimedOut":
        raise DeadlineExceeded("the search ran past the command's execution timeout on the instance",
                               code="execution_timed_out")
    if "Terminated" in names:
        raise AgentFailed("SSM terminated the search command", code="command_terminated")
    if names & {"Cancelled", "Canceled", "Cancelling"}:
        raise AgentFailed("the search command was cancelled before it finished", code="command_cancelled")
    if status == "Success":
        return stdout
    if status == "Failed":
        own = agent_error(stdout)
        if own:
            raise own
        exit_code = invocation.get("ResponseCode")
        log.error("search command failed on %s: exit %s, stderr %r", instance_id, exit_code,
                  (invocation.get("StandardErrorContent") or "")[-2000:])
        raise AgentFailed(f"the search command failed on the instance (exit code {exit_code})")
    raise AgentFailed(f"the search command ended with an unexpected status {status!r}", code="agent_failed")
