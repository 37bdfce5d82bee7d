"""S3 event notifications as SQS delivers them, reduced to a batch's net change per key.

Each SQS message's body is one S3 notification: `{"Records": [...]}` with `ObjectCreated:*` or
`ObjectRemoved:*` records, or the `s3:TestEvent` S3 sends when the notification is set up (ignored).
S3 delivers at least once and in no promised order; its `sequencer` (hex, per key) orders the
events of one key, so only the latest per key counts (docs/contracts.md, "Ingest").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

PUT, DELETE = "put", "delete"
TEST_EVENT = "s3:TestEvent"


class NotAnS3Event(ValueError):
    """A message body that is neither an S3 notification nor S3's test event."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object event: which key, put or delete, its sequencer, and the SQS message it came in."""

    bucket: str
    key: str
    op: str
    sequencer: str
    message_id: str


def sequencer_order(sequencer: str, width: int) -> str:
    """A sequencer made comparable: hex digits, right-padded with zeros to `width`, as S3 documents."""
    return sequencer.upper().ljust(width, "0")


def later(a: ObjectEvent, b: ObjectEvent) -> ObjectEvent:
    """Whichever of two events on the same key happened last (the greater padded sequencer).

    S3 gives every PUT and DELETE event a sequencer; an emulator that leaves it out (moto) is
    ordered by arrival, `b` being the later one.
    """
    if not a.sequencer or not b.sequencer:
        return b
    width = max(len(a.sequencer), len(b.sequencer))
    return b if sequencer_order(b.sequencer, width) > sequencer_order(a.sequencer, width) else a


def parse_message(body: str, message_id: str) -> list[ObjectEvent]:
    """The object events of one SQS message body ([] for S3's test event); NotAnS3Event otherwise."""
    try:
        doc = json.loads(body)
    except (TypeError, json.JSONDecodeError) as e:
        raise NotAnS3Event(f"message {message_id} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise NotAnS3Event(f"message {message_id} is not a JSON object")
    if doc.get("Event") == TEST_EVENT:
        return []
    records = doc.get("Records")
    if not isinstance(records, list):
        raise NotAnS3Event(f"message {message_id} has no Records")
    events = []
    for record in records:
        try:
            name = record["eventName"]
            bucket = record["s3"]["bucket"]["name"]
            obj = record["s3"]["object"]
            # Keys arrive URL-encoded, a space as "+".
            key, sequencer = unquote_plus(obj["key"]), str(obj.get("sequencer") or "")
        except (KeyError, TypeError) as e:
            raise NotAnS3Event(f"message {message_id} has a malformed record: missing {e}") from e
        if record.get("eventSource") != "aws:s3":
            raise NotAnS3Event(f"message {message_id} has a record from {record.get('eventSource')!r}")
        if name.startswith("ObjectCreated:"):
            op = PUT
        elif name.startswith("ObjectRemoved:"):
            op = DELETE
        else:
            continue  # other event types are not subscribed; nothing to apply
        events.append(ObjectEvent(bucket, key, op, sequencer, message_id))
    return events


def net_changes(events: list[ObjectEvent]) -> list[ObjectEvent]:
    """The latest event per (bucket, key), in key order; duplicates and superseded events drop out."""
    latest: dict[tuple[str, str], ObjectEvent] = {}
    for event in events:
        k = (event.bucket, event.key)
        latest[k] = later(latest[k], event) if k in latest else event
    return [latest[k] for k in sorted(latest)]
