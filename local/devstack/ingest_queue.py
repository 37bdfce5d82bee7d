"""The gallery's events on this machine: moto's S3 notifies moto's SQS, and a poller plays Lambda's part.

moto in server mode delivers a bucket's notifications itself (moto/s3/notifications.py sends each
event to the SQS queue of the same server whose ARN the configuration names, and S3's
s3:TestEvent when the configuration is set), so nothing here fabricates events: the bucket is
configured from the template's `GalleryNotifications` properties, the queue and its dead-letter
queue from `IngestQueue`, and the poller does what Lambda's SQS event source does: it gathers up to
BatchSize messages within the batching window, invokes the ingest handler in this process,
deletes the messages not reported in batchItemFailures and leaves those to reappear after the
visibility timeout (after maxReceiveCount receives SQS moves them to the dead-letter queue).
Unlike S3, moto's events carry no `sequencer`; the handler then orders a key's events by arrival.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from publish.template import resource_properties

log = logging.getLogger("devstack.ingest")

NOTIFICATIONS = "GalleryNotifications"
QUEUE, DEAD_LETTER_QUEUE, EVENT_SOURCE = "IngestQueue", "IngestDeadLetterQueue", "IngestEventSource"
LAMBDA_SQS_MAX_RECEIVE = 10  # ReceiveMessage's own cap per call

Invoke = Callable[[dict], dict]


@dataclass(frozen=True)
class QueueSettings:
    """The event source and queue settings the poller honours."""

    batch_size: int
    window_s: float
    visibility_s: int
    max_receive: int

    @classmethod
    def from_template(cls, template: dict, *, window_s: float | None = None,
                      visibility_s: int | None = None) -> QueueSettings:
        """BatchSize, MaximumBatchingWindowInSeconds, VisibilityTimeout and maxReceiveCount of the template.

        A shorter window and visibility timeout may be given: locally nobody waits 20 s for a
        batch or 30 minutes for a retry.
        """
        source = resource_properties(template, EVENT_SOURCE, "AWS::Lambda::EventSourceMapping")
        queue = resource_properties(template, QUEUE, "AWS::SQS::Queue")
        return cls(batch_size=int(source.get("BatchSize", 10)),
                   window_s=float(source.get("MaximumBatchingWindowInSeconds", 0) if window_s is None
                                  else window_s),
                   visibility_s=int(queue.get("VisibilityTimeout", 30) if visibility_s is None
                             else visibility_s),
                   max_receive=int(queue["RedrivePolicy"]["maxReceiveCount"]))


@dataclass(frozen=True)
class LocalQueues:
    """The queue and its dead-letter queue in moto."""

    url: str
    arn: str
    dead_letter_url: str


def create_queues(sqs: Any, name: str, settings: QueueSettings) -> LocalQueues:
    """The ingest queue with its redrive to a dead-letter queue, as the template defines them."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive)})
    attributes = {"VisibilityTimeout": str(settings.visibility_s), "RedrivePolicy": redrive}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return LocalQueues(url=url, arn=_queue_arn(sqs, url), dead_letter_url=dlq_url)


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _resolve_deep(value: Any, resolve: Callable[[Any], str]) -> Any:
    """Every Ref / GetAtt inside a structure replaced by its local value; other values kept as they are."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt"):
        return resolve(value)
    if isinstance(value, dict):
        return {k: _resolve_deep(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_deep(v, resolve) for v in value]
    return value


def configure_notifications(s3: Any, template: dict, resolve: Callable[[Any], Any]) -> str:
    """Set the gallery bucket's notification from the template's GalleryNotifications; the bucket."""
    raw = dict(resource_properties(template, NOTIFICATIONS, "Custom::BucketNotifications"))
    raw.pop("ServiceToken", None)  # the custom resource's handler; locally the stack sets it directly
    props = _resolve_deep(raw, resolve)
    config = {"QueueConfigurations": props["QueueConfigurations"]}
    s3.put_bucket_notification_configuration(Bucket=props["Bucket"], NotificationConfiguration=config)
    return props["Bucket"]


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """The event Lambda's SQS poller hands a function for these received messages."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    } for m in messages]}


@dataclass
class IngestPoller:
    """Lambda's SQS event source in a thread: batches within a window, partial failures honoured."""

    sqs: Any
    queues: LocalQueues
    settings: QueueSettings
    invoke: Invoke
    region: str = "us-east-1"
    batches: list[dict] = field(default_factory=list)  # one summary per invocation, for tests and logs
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> IngestPoller:
        """Poll until stop()."""
        self._thread = threading.Thread(target=self._run, name="ingest-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the batch in hand (if any) is answered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def _collect(self) -> list[dict]:
        """Up to batch_size messages, waiting at most the window after the first arrives."""
        messages: list[dict] = []
        first_at: float | None = None
        while not self._stop.is_set() and len(messages) < self.settings.batch_size:
            left = None if first_at is None else first_at + self.settings.window_s - time.monotonic()
            if left is not None and left <= 0:
                break
            wait = 1 if left is None else max(0, min(1, int(left)))
            got = self.sqs.receive_message(
                QueueUrl=self.queues.url, WaitTimeSeconds=wait, AttributeNames=["All"],
                MaxNumberOfMessages=min(LAMBDA_SQS_MAX_RECEIVE, self.settings.batch_size - len(messages)),
            ).get("Messages", [])
            if got and first_at is None:
                first_at = time.monotonic()
            messages += got
            if not got and left is not None and left < 1:
                time.sleep(max(0.0, min(left, 0.2)))
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._collect()
                if messages:
                    self._deliver(messages)
            except Exception:  # noqa: BLE001 - a poller thread must outlive one bad round; logged whole
                log.exception("ingest poller round failed; polling again")
                time.sleep(1.0)

    def _deliver(self, messages: list[dict]) -> None:
        event = sqs_event(messages, self.queues.arn, self.region)
        started = time.monotonic()
        try:
            answer = self.invoke(event)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            error = None
        except Exception as e:  # noqa: BLE001 - as on Lambda, a raising handler fails the whole batch
            log.exception("ingest handler raised; the batch returns to the queue")
            failed, error = {m["MessageId"] for m in messages}, f"{type(e).__name__}: {e}"
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queues.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        self.batches.append({"id": str(uuid.uuid4()), "messages": len(messages), "failed": len(failed),
                             "error": error, "seconds": round(time.monotonic() - started, 2),
                             "ended": time.time()})
