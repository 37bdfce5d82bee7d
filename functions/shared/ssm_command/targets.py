"""The instance a document is sent to: the running EC2 instance carrying the stack's tag."""

from __future__ import annotations

from typing import Any


def tagged_instances(ec2: Any, tag_key: str, tag_value: str) -> list[dict]:
    """Every instance tagged `tag_key=tag_value`, in any state (ClientError raised unchanged)."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{tag_key}", "Values": [tag_value]}]
    )
    return [i for page in pages for r in page.get("Reservations", []) for i in r.get("Instances", [])]


def newest_running(instances: list[dict]) -> str | None:
    """The running instance launched last (then the greatest id: every call picks the same); else None."""
    running = [i for i in instances if i.get("State", {}).get("Name") == "running"]
    if not running:
        return None
    running.sort(key=lambda i: (i.get("LaunchTime") or 0, i["InstanceId"]), reverse=True)
    return running[0]["InstanceId"]
