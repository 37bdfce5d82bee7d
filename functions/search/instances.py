"""Find the running EC2 instance tagged for search with `ec2:DescribeInstances`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from deadline import Clock
from errors import InstanceUnavailable, from_client_error


def find_search_instance(ec2: Any, tag_key: str, tag_value: str) -> str:
    """The id of the running tagged instance; the most recently launched one when several run."""
    instances: list[dict] = []
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": f"tag:{tag_key}", "Values": [tag_value]}]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                instances.extend(reservation.get("Instances", []))
    except ClientError as e:
        raise from_client_error(e, "describe the search instances") from e

    running = [i for i in instances if i.get("State", {}).get("Name") == "running"]
    if running:
        # Newest launch first, then instance id, so the choice is the same on every call.
        running.sort(key=lambda i: (i.get("LaunchTime") or 0, i["InstanceId"]), reverse=True)
        return running[0]["InstanceId"]
    tag = f"{tag_key}={tag_value}"
    if not instances:
        raise InstanceUnavailable(f"no search instance is running: no EC2 instance is tagged {tag}",
                                  code="no_instance")
    states = ", ".join(sorted(f"{i['InstanceId']} is {i.get('State', {}).get('Name', 'unknown')}"
                              for i in instances))
    raise InstanceUnavailable(f"no search instance is running ({states}); start it and try again",
                              code="instance_not_running")


@dataclass
class InstanceCache:
    """Remembers the instance id for a while so a warm container skips DescribeInstances."""

    clock: Clock = time.monotonic
    _entry: tuple[tuple[str, str], str, float] | None = field(default=None, repr=False)

    def get(self, ec2: Any, tag_key: str, tag_value: str, ttl_seconds: float) -> str:
        """The cached id for this tag if younger than `ttl_seconds`, else a fresh lookup."""
        now = self.clock()
        tag = (tag_key, tag_value)
        if self._entry and self._entry[0] == tag and now - self._entry[2] < ttl_seconds:
            return self._entry[1]
        instance_id = find_search_instance(ec2, tag_key, tag_value)
        self._entry = (tag, instance_id, now)
        return instance_id

    def forget(self) -> None:
        """Drop the cached id (the instance stopped answering)."""
        self._entry = None
