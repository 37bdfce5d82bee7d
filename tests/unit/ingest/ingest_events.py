"""S3 event records and SQS messages as the ingest function receives them (test helpers)."""

from __future__ import annotations

import json

GALLERY, SITE = "test-gallery-bucket", "test-site-bucket"
ENV = {"GALLERY_BUCKET": GALLERY, "SITE_BUCKET": SITE, "INGEST_DOCUMENT_NAME": "Ingest",
       "INSTANCE_TAG_KEY": "ImageSearchRole", "INSTANCE_TAG_VALUE": "search", "PER_ALBUM": "3",
       "INGEST_MARGIN_SECONDS": "1"}


def s3_record(key: str, event: str = "ObjectCreated:Put", sequencer: str | None = "0055AED6DCD90281E5",
              bucket: str = GALLERY) -> dict:
    """One S3 event record as S3 writes it (the key URL-encoded)."""
    from urllib.parse import quote_plus

    obj = {"key": quote_plus(key), "size": 10, "eTag": "abc"}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": event,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                   "object": obj}}


def sqs_message(message_id: str, *records: dict, body: str | None = None) -> dict:
    """An SQS record of Lambda's event whose body is one S3 notification."""
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}",
            "body": body if body is not None else json.dumps({"Records": list(records)}),
            "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "1"}}


TEST_EVENT = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-01-01T00:00:00.000Z",
                         "Bucket": GALLERY, "RequestId": "R", "HostId": "H"})
