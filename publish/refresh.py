"""Tell the running search instance to pick up new agent code and index, and wait for its health."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError
from ssm_command import (
    CommandTimedOut,
    Ending,
    ending,
    error_code,
    poll_intervals,
    send_command,
    wait_for_invocation,
)

from publish.uploader import PublishError

# The first refresh on a fresh instance installs Python and the dependencies: minutes, not seconds.
DEFAULT_TIMEOUT_S = 1200.0
# Polls 1 s after sending, then every x1.5 up to 10 s: a refresh takes seconds to minutes.
POLL_INTERVALS = (1.0, 1.5, 10.0)


@dataclass(frozen=True)
class RefreshResult:
    """The refresh command's outcome: its id, the daemon's health answer (if JSON) and raw output."""

    command_id: str
    health: dict | None
    output: str


def instance_state(ec2, instance_id: str) -> str | None:
    """The instance's state name ('running', 'stopped', ...), or None when it does not exist."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as e:
        if error_code(e) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return None
        raise PublishError(f"cannot describe instance {instance_id}: {e}") from e
    for reservation in reservations:
        for instance in reservation["Instances"]:
            return instance["State"]["Name"]
    return None


def parse_health(output: str) -> dict | None:
    """The last line of the output that is a JSON object (the `imagesearch health` answer)."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def refresh_instance(
    ssm,
    instance_id: str,
    document_name: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RefreshResult:
    """Run the refresh document on the instance and wait until it ends; raise if it did not succeed."""
    try:
        command_id = send_command(ssm, instance_id, document_name, comment="publish: refresh agent and index")
    except ClientError as e:
        raise PublishError(f"cannot send {document_name} to {instance_id}: {e}") from e
    ends_at = clock() + timeout_s
    try:
        inv = wait_for_invocation(ssm, command_id, instance_id, lambda: ends_at - clock(), sleep=sleep,
                                  intervals=poll_intervals(*POLL_INTERVALS))
    except CommandTimedOut as e:
        outcome = "cancelled" if e.cancelled else "it could not be cancelled"
        raise PublishError(
            f"refresh {command_id} still {e.last_status} after {timeout_s:.0f} s; {outcome}") from e
    except ClientError as e:
        raise PublishError(f"cannot read command {command_id}: {e}") from e
    output = inv.get("StandardOutputContent", "")
    if ending(inv) is not Ending.SUCCESS:
        detail = inv.get("StatusDetails") or inv.get("Status")
        stderr = inv.get("StandardErrorContent", "").strip()[-2000:]
        raise PublishError(
            f"refresh {command_id} on {instance_id} ended {detail}: {stderr or output[-2000:]}"
        )
    return RefreshResult(command_id=command_id, health=parse_health(output), output=output)
