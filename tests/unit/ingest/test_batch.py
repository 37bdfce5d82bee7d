"""One SQS batch through the ingest function: the batch object, the command, public copies, failures."""

from __future__ import annotations

import json

import boto3
import pytest
from function_modules import ingest_modules
from ingest_events import ENV, GALLERY, SITE, TEST_EVENT, s3_record, sqs_message
from moto import mock_aws

_ingest = ingest_modules()
IngestClients, handle_batch = _ingest.batch.IngestClients, _ingest.batch.handle_batch
IngestConfig = _ingest.settings.IngestConfig


class FakeSSM:
    """send_command / get_command_invocation with a fixed ending and stdout."""

    def __init__(self, status: str = "Success", stdout: str = "", stderr: str = "") -> None:
        self.status, self.stdout, self.stderr = status, stdout, stderr
        self.sent: list[dict] = []

    def send_command(self, **request) -> dict:
        self.sent.append(request)
        return {"Command": {"CommandId": f"c{len(self.sent)}"}}

    def get_command_invocation(self, **_) -> dict:
        return {"Status": self.status, "StatusDetails": self.status, "StandardOutputContent": self.stdout,
                "StandardErrorContent": self.stderr}

    def cancel_command(self, **_) -> dict:
        return {}


def _report(skipped: list[dict] | None = None) -> str:
    return json.dumps({"ok": True, "version": "v2", "changed": True, "skipped_files": skipped or [],
                       "index": {"version": "v2", "count": 3, "default_mode": "exact",
                                 "weights": {"source": "seed:0", "pretrained": False}}})


@pytest.fixture
def aws():
    with mock_aws():
        s3, ec2 = boto3.client("s3"), boto3.client("ec2")
        for bucket in (GALLERY, SITE):
            s3.create_bucket(Bucket=bucket)
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "ImageSearchRole", "Value": "search"}]}])
        yield s3, ec2


def _run(aws, ssm, records):
    s3, ec2 = aws
    return handle_batch(records, IngestClients(s3=s3, ssm=ssm, ec2=ec2), IngestConfig.from_env(ENV),
                        remaining=lambda: 30.0, sleep=lambda _: None)


def _put(s3, key: str, data: bytes = b"png") -> None:
    s3.put_object(Bucket=GALLERY, Key=key, Body=data)


def test_a_successful_batch_writes_the_batch_object_sends_its_key_and_lists_the_albums(aws):
    s3, _ = aws
    for name in ("a.png", "b.png", "c.png", "d.png", "notes.txt"):
        _put(s3, f"gallery/new/{name}")
    ssm = FakeSSM(stdout=_report([{"key": "gallery/new/b.png", "reason": "bad_image"}]))
    records = [sqs_message("m1", s3_record("gallery/new/a.png")),
               sqs_message("m2", s3_record("gallery/new/b.png")), sqs_message("m3", body=TEST_EVENT)]
    outcome = _run(aws, ssm, records)
    assert outcome.response() == {"batchItemFailures": []}
    (sent,) = ssm.sent
    assert sent["DocumentName"] == "Ingest" and list(sent["Parameters"]) == ["key"]
    key = sent["Parameters"]["key"][0]
    batch = json.loads(s3.get_object(Bucket=GALLERY, Key=key)["Body"].read())
    assert [(c["key"], c["op"]) for c in batch["changes"]] == [("gallery/new/a.png", "put"),
                                                               ("gallery/new/b.png", "put")]
    # The instance writes the display copies and album pages (imagesearch ingest); the function
    # never lists the bucket nor copies an original: the site holds nothing it wrote.
    assert outcome.albums == ["new"]
    assert s3.list_objects_v2(Bucket=SITE).get("KeyCount", 0) == 0


def test_a_failed_command_reports_every_message_of_the_batch(aws):
    s3, _ = aws
    _put(s3, "gallery/new/a.png")
    ssm = FakeSSM(status="Failed", stdout=json.dumps({"ok": False, "error": {"code": "internal"}}))
    records = [sqs_message("m1", s3_record("gallery/new/a.png")), sqs_message("m2", body=TEST_EVENT)]
    outcome = _run(aws, ssm, records)
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert "failed" in outcome.reason


def test_no_running_instance_fails_the_batch(aws):
    s3, ec2 = aws
    for r in ec2.describe_instances()["Reservations"]:
        ec2.stop_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    outcome = _run(aws, FakeSSM(stdout=_report()), [sqs_message("m1", s3_record("gallery/new/a.png"))])
    assert outcome.failures == ["m1"] and "no running instance" in outcome.reason


def test_a_message_that_is_not_an_s3_event_alone_is_reported(aws):
    ssm = FakeSSM(stdout=_report())
    outcome = _run(aws, ssm, [sqs_message("bad", body="{nope"), sqs_message("m2", body=TEST_EVENT)])
    assert outcome.failures == ["bad"] and ssm.sent == []


def test_keys_of_other_buckets_or_outside_gallery_send_nothing(aws):
    ssm = FakeSSM(stdout=_report())
    records = [sqs_message("m1", s3_record("index/current.json")),
               sqs_message("m3", s3_record("gallery/a/ok.png", bucket="other-bucket"))]
    assert _run(aws, ssm, records).failures == [] and ssm.sent == []


def test_names_outside_the_key_pattern_reach_the_instance_to_be_counted_never_copied(aws):
    # Issue 24.1: the instance records them as skipped (the album counts them, `index info` names
    # them); nothing public is ever made of them, and their public copies (if any) are not touched.
    s3, _ = aws
    hostile = ["gallery/a/b c.png", 'gallery/a/aaa"onerror=alert(1)".png', "gallery/a/.hidden.png",
               "gallery/a/" + "x" * 900 + ".png", "gallery/x.png"]
    ssm = FakeSSM(stdout=_report([{"key": k[:300], "reason": "bad_key"} for k in hostile]))
    outcome = _run(aws, ssm, [sqs_message(f"m{i}", s3_record(k)) for i, k in enumerate(hostile)])
    assert outcome.failures == [] and len(ssm.sent) == 1
    batch = json.loads(s3.get_object(Bucket=GALLERY, Key=ssm.sent[0]["Parameters"]["key"][0])["Body"].read())
    assert sorted(c["key"] for c in batch["changes"]) == sorted(hostile)
    assert s3.list_objects_v2(Bucket=SITE).get("KeyCount", 0) == 0


def test_the_same_changes_name_the_same_batch_object(aws):
    s3, _ = aws
    _put(s3, "gallery/new/a.png")
    ssm = FakeSSM(stdout=_report())
    _run(aws, ssm, [sqs_message("m1", s3_record("gallery/new/a.png"))])
    _run(aws, ssm, [sqs_message("m9", s3_record("gallery/new/a.png"))])  # redelivered
    assert ssm.sent[0]["Parameters"] == ssm.sent[1]["Parameters"]


def test_a_deleted_or_refused_image_loses_its_thumb_preview_and_result_copy(aws):
    s3, _ = aws
    for name in ("a.png", "b.png", "c.png"):
        _put(s3, f"gallery/new/{name}")
        # (published, and shown as search results: the site holds every public copy of each)
        for prefix in ("thumbs/new", "previews/new", "results/gallery/new"):
            s3.put_object(Bucket=SITE, Key=f"{prefix}/{name}", Body=b"public copy")
    s3.delete_object(Bucket=GALLERY, Key="gallery/new/a.png")
    _put(s3, "gallery/new/c.png", b"no longer an image")
    # WHEN a batch deletes a.png and replaces c.png with a file the index refuses
    ssm = FakeSSM(stdout=_report([{"key": "gallery/new/c.png", "reason": "bad_image"}]))
    deleted = s3_record("gallery/new/a.png", "ObjectRemoved:Delete", "0099")
    outcome = _run(aws, ssm, [sqs_message("m1", deleted, s3_record("gallery/new/c.png", sequencer="0098"))])
    # THEN both lose every public copy; b.png keeps its own
    assert outcome.failures == []
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=SITE)["Contents"]}
    assert left == {"thumbs/new/b.png", "previews/new/b.png", "results/gallery/new/b.png"}
