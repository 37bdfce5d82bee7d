"""One SQS batch of S3 events: net changes -> ingest/<id>.json -> IngestDocument -> public copies dropped.

The instance makes the display copies and album pages of what the index accepted (imagesearch
ingest); this function removes the public copies of the keys that left or were refused.
All or nothing: when the command (or the removal) fails, every message of the batch is
reported as a batch item failure, so SQS delivers them again and after maxReceiveCount parks them
in the dead-letter queue; the reason is logged. Applying a batch twice changes nothing, so a retry
is always safe. A message that is not an S3 event can never succeed: only it is reported.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ssm_command
from botocore.exceptions import BotoCoreError, ClientError
from keys import GALLERY_KEY, GALLERY_PREFIX, album_of, batch_key
from s3_events import DELETE, NotAnS3Event, ObjectEvent, net_changes, parse_message
from settings import IngestConfig
from site_albums import PublicCopiesNotDeleted, delete_public_copies
from ssm_command import CommandTimedOut, Ending

log = logging.getLogger("ingest")

# SendCommand's own minimum: how long SSM keeps trying to deliver the command.
DELIVERY_TIMEOUT_SECONDS = 30


class IngestFailed(Exception):
    """The batch could not be applied; its messages go back to the queue."""


@dataclass
class IngestClients:
    """The AWS clients the ingest function uses (boto3's, or stand-ins locally and in tests)."""

    s3: Any
    ssm: Any
    ec2: Any


@dataclass
class BatchOutcome:
    """What one batch did: the SQS answer and, for logs and tests, the report of the agent."""

    failures: list[str]
    batch: str | None = None
    report: dict | None = None
    reason: str | None = None
    albums: list[str] | None = None

    def response(self) -> dict:
        """The ReportBatchItemFailures answer Lambda's SQS poller reads."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.failures]}


def batch_document(bucket: str, changes: list[ObjectEvent]) -> tuple[str, bytes]:
    """The batch object's key and body (docs/contracts.md, "Ingest")."""
    lines = [f"{c.op}\t{c.key}\t{c.sequencer}" for c in changes]
    body = {"bucket": bucket, "changes": [{"key": c.key, "op": c.op, "sequencer": c.sequencer}
                                          for c in changes]}
    return batch_key(lines), json.dumps(body, indent=1).encode() + b"\n"


def find_instance(ec2: Any, config: IngestConfig) -> str:
    """The running tagged instance; IngestFailed when there is none."""
    instance = ssm_command.newest_running(ssm_command.tagged_instances(ec2, config.tag_key, config.tag_value))
    if instance is None:
        raise IngestFailed(f"no running instance is tagged {config.tag_key}={config.tag_value}")
    return instance


def run_document(clients: IngestClients, config: IngestConfig, key: str, remaining: Callable[[], float],
                 sleep: Callable[[float], None]) -> dict:
    """Send the IngestDocument for `key`, wait for it, and return the agent's report."""
    instance = find_instance(clients.ec2, config)
    command_id = ssm_command.send_command(clients.ssm, instance, config.document, {"key": key},
                                          comment=f"ingest {key}",
                                          delivery_timeout_s=DELIVERY_TIMEOUT_SECONDS)
    try:
        invocation = ssm_command.wait_for_invocation(
            clients.ssm, command_id, instance, remaining, sleep=sleep,
            intervals=ssm_command.poll_intervals(0.5, 1.5, 5.0))
    except CommandTimedOut as e:
        raise IngestFailed(f"the ingest command did not end in time: {e}") from e
    end = ssm_command.ending(invocation)
    stdout = invocation.get("StandardOutputContent") or ""
    if end is not Ending.SUCCESS:
        detail = (stdout.strip() or invocation.get("StandardErrorContent") or "").strip()[-800:]
        raise IngestFailed(f"the ingest command ended {end} on {instance}: {detail}")
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError as e:
        raise IngestFailed(f"the ingest command printed no JSON report: {stdout[:300]!r}") from e
    if not isinstance(report, dict) or report.get("ok") is not True:
        raise IngestFailed(f"the ingest command reported a failure: {stdout[:800]}")
    return report


def copies_to_drop(changes: list[ObjectEvent], report: dict) -> list[str]:
    """The gallery keys whose public copies go: deleted ones and those the index refused now."""
    refused = [str(s.get("key")) for s in report.get("skipped_files", [])]
    deleted = [c.key for c in changes if c.op == DELETE]
    return sorted({k for k in deleted + refused if GALLERY_KEY.fullmatch(k)})


def _parse(records: Iterable[dict]) -> tuple[list[ObjectEvent], list[str], list[str]]:
    """The object events of the batch, the ids of every message, and the ids of unreadable ones."""
    events, ids, bad = [], [], []
    for record in records:
        message_id = record["messageId"]
        ids.append(message_id)
        try:
            events += parse_message(record.get("body", ""), message_id)
        except NotAnS3Event as e:
            log.error("not an S3 event; it will go to the dead-letter queue: %s", e)
            bad.append(message_id)
    return events, ids, bad


def handle_batch(records: list[dict], clients: IngestClients, config: IngestConfig,
                 remaining: Callable[[], float], sleep: Callable[[float], None] = time.sleep) -> BatchOutcome:
    """Apply one SQS batch of S3 events; every message of a failed batch is reported as a failure."""
    events, ids, bad = _parse(records)
    mine = [e for e in events if e.bucket == config.gallery_bucket]
    # Keys under gallery/ outside the key pattern go to the instance too: it records them as
    # skipped (never read nor listed), so the album counts them and `index info` names them.
    changes = [c for c in net_changes(mine) if c.key.startswith(GALLERY_PREFIX)]
    ignored = sorted({e.key for e in mine} - {c.key for c in changes})
    if ignored:
        log.warning("keys outside gallery/ are not indexed: %s", ignored[:20])
    if not changes:
        return BatchOutcome(failures=bad)
    key, body = batch_document(config.gallery_bucket, changes)
    try:
        clients.s3.put_object(Bucket=config.gallery_bucket, Key=key, Body=body,
                              ContentType="application/json")
        report = run_document(clients, config, key, remaining, sleep)
        albums = sorted({album_of(c.key) for c in changes if GALLERY_KEY.fullmatch(c.key)})
        # Images that left the gallery (or that the index refused) leave the site too.
        delete_public_copies(clients.s3, config.site_bucket, copies_to_drop(changes, report))
    except (IngestFailed, ClientError, BotoCoreError, CommandTimedOut, PublicCopiesNotDeleted) as e:
        reason = f"{type(e).__name__}: {e}"
        log.error("ingest batch %s failed; its %d messages return to the queue: %s", key, len(ids), reason)
        return BatchOutcome(failures=ids, batch=key, reason=reason)
    log.info("ingest batch %s applied: version %s, %d skipped", key, report.get("version"),
             report.get("skipped", 0), extra={"report": report})
    return BatchOutcome(failures=bad, batch=key, report=report, albums=albums)
