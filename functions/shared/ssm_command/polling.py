"""SendCommand to one instance, then GetCommandInvocation at growing intervals until it ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ssm_command.aws_errors import error_code, is_throttle
from ssm_command.status import ending

log = logging.getLogger("ssm_command")

Sleep = Callable[[float], None]
Remaining = Callable[[], float]

# SSM keeps at most this many characters of a command's comment.
COMMENT_LIMIT = 100


class CommandTimedOut(Exception):
    """The caller's time ran out before the invocation ended; the command was cancelled if SSM let us."""

    def __init__(self, command_id: str, polls: int, cancelled: bool, last_status: str) -> None:
        super().__init__(f"command {command_id} still {last_status} after {polls} polls; "
                         + ("cancelled" if cancelled else "not cancelled"))
        self.command_id = command_id
        self.polls = polls
        self.cancelled = cancelled
        self.last_status = last_status


def poll_intervals(first: float = 0.1, factor: float = 1.5, cap: float = 1.0) -> Iterator[float]:
    """Sleeps before each poll: `first`, then times `factor` up to `cap` (0.1, 0.15, 0.225, ... 1.0)."""
    interval = first
    while True:
        yield interval
        interval = min(interval * factor, cap)


def send_command(ssm: Any, instance_id: str, document: str, parameters: Mapping[str, str] | None = None, *,
                 comment: str = "", delivery_timeout_s: int | None = None) -> str:
    """Send `document` to one instance with one string value per parameter; the command id.

    `delivery_timeout_s` is SendCommand's TimeoutSeconds (how long SSM tries to deliver; 30 at
    least); None leaves SSM's default. A ClientError is raised unchanged for the caller to name.
    """
    request: dict[str, Any] = {"InstanceIds": [instance_id], "DocumentName": document}
    if parameters:
        request["Parameters"] = {name: [value] for name, value in parameters.items()}
    if delivery_timeout_s is not None:
        request["TimeoutSeconds"] = delivery_timeout_s
    if comment:
        request["Comment"] = comment[:COMMENT_LIMIT]
    return ssm.send_command(**request)["Command"]["CommandId"]


def cancel(ssm: Any, command_id: str, instance_id: str) -> bool:
    """Ask SSM to cancel the command on the instance; False (and a warning) if SSM refuses."""
    try:
        ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
    except ClientError as e:
        log.warning("could not cancel command %s: %s", command_id, error_code(e))
        return False
    return True


def wait_for_invocation(ssm: Any, command_id: str, instance_id: str, remaining: Remaining, *,
                        sleep: Sleep = time.sleep, intervals: Iterable[float] | None = None) -> dict:
    """Poll until the invocation ends and return it; when `remaining()` reaches 0, cancel and raise.

    Each poll waits its interval (never past the time left). `InvocationDoesNotExist` (SSM
    registers the invocation a moment after SendCommand) and a throttled poll both mean "ask again
    later"; any other ClientError is raised unchanged. Raises CommandTimedOut when time runs out.
    """
    polls = 0
    last_status = "Pending"
    for interval in intervals if intervals is not None else poll_intervals():
        left = remaining()
        if left <= 0:
            break
        sleep(min(interval, left))
        polls += 1
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as e:
            if error_code(e) == "InvocationDoesNotExist" or is_throttle(e):
                continue
            raise
        last_status = str(invocation.get("Status") or last_status)
        if ending(invocation) is None:
            continue
        log.debug("command %s ended %s after %d polls", command_id, last_status, polls)
        return invocation
    cancelled = cancel(ssm, command_id, instance_id)
    raise CommandTimedOut(command_id, polls, cancelled, last_status)
