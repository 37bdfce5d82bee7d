"""What a GetCommandInvocation answer says: still running, or how the command ended.

Status and StatusDetails are both read, so either spelling of a detail (`Delivery Timed Out` /
`DeliveryTimedOut`, `Cancelled` / `Canceled`) and a stand-in that puts a detail in `Status` are
understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

# Not ended yet. `Cancelling` is among them: after CancelCommand the agent may still finish the
# command (Success, Failed) before the cancel lands, so only `Cancelled` is the end.
RUNNING = frozenset({"Pending", "InProgress", "In Progress", "Delayed", "Cancelling"})


class Ending(StrEnum):
    """How an invocation ended."""

    SUCCESS = "success"
    FAILED = "failed"  # the script ran and exited non-zero (or the plugin failed)
    UNDELIVERABLE = "undeliverable"  # the instance is stopped, gone, or its agent is not running
    DELIVERY_TIMED_OUT = "delivery_timed_out"  # not picked up within SendCommand's TimeoutSeconds
    EXECUTION_TIMED_OUT = "execution_timed_out"  # ran past the document's timeoutSeconds
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"  # a status this code does not know


def ending(invocation: Mapping[str, Any]) -> Ending | None:
    """How the invocation ended, or None while it is still running."""
    status = invocation.get("Status")
    names = {status, invocation.get("StatusDetails")}
    if names & RUNNING:
        return None
    if "Undeliverable" in names:
        return Ending.UNDELIVERABLE
    if names & {"Delivery Timed Out", "DeliveryTimedOut"}:
        return Ending.DELIVERY_TIMED_OUT
    if names & {"Execution Timed Out", "ExecutionTimedOut"} or status == "TimedOut":
        return Ending.EXECUTION_TIMED_OUT
    if "Terminated" in names:
        return Ending.TERMINATED
    if names & {"Cancelled", "Canceled"}:
        return Ending.CANCELLED
    if status == "Success":
        return Ending.SUCCESS
    if status == "Failed":
        return Ending.FAILED
    return Ending.UNKNOWN
