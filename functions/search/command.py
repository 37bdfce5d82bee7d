"""The search command: sent and polled by the shared SSM code; how it ended becomes an answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import ssm_command
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
)
from ssm_command import CommandTimedOut, Ending

log = logging.getLogger("search")

# SendCommand's own minimum: the time SSM keeps trying to deliver the command to the instance.
DELIVERY_TIMEOUT_SECONDS = 30


def send_search(ssm: Any, instance_id: str, document: str, bucket: str, key: str, k: int,
                comment: str = "") -> str:
    """Send the search document to one instance with its typed parameters; the command id."""
    parameters = {"bucket": bucket, "key": key, "k": str(k)}
    try:
        return ssm_command.send_command(ssm, instance_id, document, parameters, comment=comment,
                                        delivery_timeout_s=DELIVERY_TIMEOUT_SECONDS)
    except ClientError as e:
        code = error_code(e)
        if code == "InvalidInstanceId":
            raise InstanceUnavailable(
                f"the search instance {instance_id} cannot take commands (stopped, or its SSM agent is not "
                "registered)", code="instance_not_ready") from e
        if code in {"InvalidDocument", "InvalidDocumentVersion", "InvalidParameters"}:
            raise Misconfigured(f"the SSM document {document!r} rejected the request ({code})") from e
        raise from_client_error(e, "send the search command") from e


def wait_for_invocation(ssm: Any, command_id: str, instance_id: str, deadline: Deadline,
                        sleep: Sleep = time.sleep, intervals: Iterable[float] | None = None) -> dict:
    """The ended invocation; at the deadline the command is cancelled and DeadlineExceeded raised."""
    try:
        return ssm_command.wait_for_invocation(ssm, command_id, instance_id, deadline.remaining,
                                               sleep=sleep, intervals=intervals)
    except CommandTimedOut as e:
        raise DeadlineExceeded(
            f"the search did not finish in time (after {e.polls} polls); the command was "
            + ("cancelled" if e.cancelled else "left to time out")) from e
    except ClientError as e:
        if error_code(e) == "InvalidInstanceId":
            raise InstanceUnavailable(f"the search instance {instance_id} is no longer available",
                                      code="instance_not_ready") from e
        raise from_client_error(e, "read the search command's status") from e


def output_of(invocation: dict, instance_id: str) -> str:
    """The command's stdout for a Success; otherwise the domain error its ending means."""
    end = ssm_command.ending(invocation)
    stdout = invocation.get("StandardOutputContent") or ""
    if end is Ending.SUCCESS:
        return stdout
    if end is Ending.UNDELIVERABLE:
        raise InstanceUnavailable(f"the search command could not be delivered to {instance_id} (stopped, "
                                  "terminated, or its SSM agent is not running)", code="undeliverable")
    if end is Ending.DELIVERY_TIMED_OUT:
        raise InstanceUnavailable(f"the search instance {instance_id} did not pick up the command in time",
                                  code="delivery_timed_out")
    if end is Ending.EXECUTION_TIMED_OUT:
        raise DeadlineExceeded("the search ran past the command's execution timeout on the instance",
                               code="execution_timed_out")
    if end is Ending.TERMINATED:
        raise AgentFailed("SSM terminated the search command", code="command_terminated")
    if end is Ending.CANCELLED:
        raise AgentFailed("the search command was cancelled before it finished", code="command_cancelled")
    if end is Ending.FAILED:
        own = agent_error(stdout)
        if own:
            raise own
        exit_code = invocation.get("ResponseCode")
        log.error("search command failed on %s: exit %s, stderr %r", instance_id, exit_code,
                  (invocation.get("StandardErrorContent") or "")[-2000:])
        raise AgentFailed(f"the search command failed on the instance (exit code {exit_code})")
    status = invocation.get("Status")
    raise AgentFailed(f"the search command ended with an unexpected status {status!r}", code="agent_failed")
