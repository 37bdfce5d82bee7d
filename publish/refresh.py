"""Tell the running search instance to pick up new agent code and index, and wait for its health."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from publish.uploader import PublishError

# The first refresh on a fresh instance installs Python and the dependencies: minutes, not seconds.
DEFAULT_TIMEOUT_S = 1200.0
_RUNNING_STATUSES = {"Pending", "InProgress", "Delayed", "Cancelling"}


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
        if e.response["Error"]["Code"] in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
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
        sent = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=document_name,
            Comment="publish: refresh agent and index",
        )
    except ClientError as e:
        raise PublishError(f"cannot send {document_name} to {instance_id}: {e}") from e
    command_id = sent["Command"]["CommandId"]
    deadline = clock() + timeout_s
    interval = 1.0
    while True:
        sleep(interval)
        interval = min(interval * 1.5, 10.0)
        try:
            inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as e:
            # The invocation appears a moment after SendCommand returns.
            if e.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise PublishError(f"cannot read command {command_id}: {e}") from e
            inv = {"Status": "Pending"}
        status = inv["Status"]
        if status not in _RUNNING_STATUSES:
            break
        if clock() > deadline:
            try:
                ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
            except ClientError as e:
                raise PublishError(f"refresh {command_id} timed out and could not be cancelled: {e}") from e
            raise PublishError(f"refresh {command_id} still {status} after {timeout_s:.0f} s; cancelled")
    output = inv.get("StandardOutputContent", "")
    if status != "Success":
        detail = inv.get("StatusDetails", status)
        stderr = inv.get("StandardErrorContent", "").strip()[-2000:]
        raise PublishError(
            f"refresh {command_id} on {instance_id} ended {detail}: {stderr or output[-2000:]}"
        )
    return RefreshResult(command_id=command_id, health=parse_health(output), output=output)
