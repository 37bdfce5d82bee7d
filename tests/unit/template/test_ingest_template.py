"""The ingest path in template.yaml: events, queues, serialisation, the IngestDocument and least privilege."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from imagesearch.keys import INGEST_KEY_RE

from publish.template import TEMPLATE, ingest_document

FUNCTIONS = TEMPLATE.parent / "functions"
GOOD_KEY = "ingest/0123456789abcdef0123456789abcdef.json"
HOSTILE_KEYS = [
    "", "ingest/", "ingest/0123456789abcdef0123456789abcdef.json\n", "ingest/../index/current.json",
    "/ingest/0123456789abcdef0123456789abcdef.json", "ingest/0123456789ABCDEF0123456789ABCDEF.json",
    "ingest/0123456789abcdef0123456789abcde.json", "ingest/0123456789abcdef0123456789abcdef0.json",
    "ingest/0123456789abcdef0123456789abcdef.json; rm -rf /", "ingest/$(id)89abcdef0123456789abcdef.json",
    "ingest/`id`456789abcdef0123456789abcdef.json", "gallery/a/b.png", "index/current.json",
    "ingest/0123456789abcdef0123456789abcdef.jsonx", "ingest/0123456789abcdef0123456789abcdef.json\x00",
    "ingest/0123456789abcdef0123456789abcdef/json", "ingest/\u0660123456789abcdef0123456789abcdef.json",
]


@pytest.fixture(scope="module")
def function_keys():
    # By its path: `keys` is also the search function's module of that name (stdlib imports only).
    spec = importlib.util.spec_from_file_location("ingest_function_keys", FUNCTIONS / "ingest" / "keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _statements(resource: dict) -> list[dict]:
    return [s for p in resource["Properties"]["Policies"] for s in p["Statement"]]


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_ingest_document_takes_only_the_batch_key_as_an_env_var(template):
    doc = ingest_document(template)
    assert list(doc["parameters"]) == ["key"]
    spec = doc["parameters"]["key"]
    assert spec["interpolationType"] == "ENV_VAR" and spec["allowedPattern"] == INGEST_KEY_RE.pattern
    (step,) = doc["mainSteps"]
    assert step["inputs"]["runCommand"] == ['imagesearch ingest --key "{{ key }}"']


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_every_side_refuses_hostile_batch_keys(template, function_keys, key):
    from botocore.exceptions import ClientError
    from devstack.ssm_document import Document

    pattern = ingest_document(template)["parameters"]["key"]["allowedPattern"]
    assert re.fullmatch(pattern, key) is None
    assert function_keys.INGEST_KEY.fullmatch(key) is None
    assert INGEST_KEY_RE.fullmatch(key) is None
    with pytest.raises(ClientError):
        Document.from_content("Ingest", ingest_document(template)).validate({"key": [key]})


def test_every_side_takes_a_batch_key_the_function_makes(template, function_keys):
    made = function_keys.batch_key(["put\tgallery/a/b.png\t01"])
    for key in (GOOD_KEY, made):
        assert re.fullmatch(ingest_document(template)["parameters"]["key"]["allowedPattern"], key)
        assert function_keys.INGEST_KEY.fullmatch(key) and INGEST_KEY_RE.fullmatch(key)


def test_function_and_agent_gallery_key_patterns_agree(function_keys):
    from imagesearch.keys import GALLERY_KEY_RE

    assert function_keys.GALLERY_KEY.pattern == GALLERY_KEY_RE.pattern


def test_gallery_events_under_gallery_go_to_the_queue_after_its_policy(resources):
    notifications = resources["GalleryNotifications"]
    assert notifications["DependsOn"] == "IngestQueuePolicy"
    (config,) = notifications["Properties"]["QueueConfigurations"]
    assert config["QueueArn"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert sorted(config["Events"]) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "gallery/"}]
    assert "NotificationConfiguration" not in resources["GalleryBucket"]["Properties"]


def test_only_the_gallery_bucket_of_this_account_may_send(resources):
    (statement,) = resources["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["GalleryBucket", "Arn"]}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_failed_batches_are_parked_and_alarmed(resources):
    queue = resources["IngestQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert 2 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 5
    # Lambda's SQS guidance: visibility timeout at least six times the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * resources["IngestFunction"]["Properties"]["Timeout"]
    alarm = resources["IngestDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 1
    assert alarm["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}}]


def test_batches_are_serialised_by_maximum_concurrency_not_reserved_concurrency(resources):
    source = resources["IngestEventSource"]["Properties"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 10 <= source["MaximumBatchingWindowInSeconds"] <= 60
    function = resources["IngestFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" not in function
    # The event source is declared on its own, so SAM adds no managed SQS policy on "*".
    assert "Events" not in function


def test_ingest_function_is_least_privilege(resources):
    statements = _statements(resources["IngestFunction"])
    grants = {(a, json.dumps(r))
              for s in statements for a in _list(s["Action"]) for r in _list(s["Resource"])}
    s3 = {g for g in grants if g[0].startswith("s3:")}
    assert s3 == {
        ("s3:PutObject", json.dumps({"Fn::Sub": "${GalleryBucket.Arn}/ingest/*"})),
        # the public copies of images that left the gallery or that the index refused: thumbnails,
        # previews and copies as search results (docs/contracts.md). The instance makes the copies
        # and pages (issue 22); the function reads no gallery object and lists nothing.
        ("s3:DeleteObject", json.dumps({"Fn::Sub": "${SiteBucket.Arn}/thumbs/*"})),
        ("s3:DeleteObject", json.dumps({"Fn::Sub": "${SiteBucket.Arn}/previews/*"})),
        ("s3:DeleteObject", json.dumps({"Fn::Sub": "${SiteBucket.Arn}/results/*"})),
    }
    send = [s for s in statements if s["Action"] == "ssm:SendCommand"]
    assert {json.dumps(s["Resource"]) for s in send} == {
        json.dumps({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/"
                                "${IngestDocument}"}),
        json.dumps({"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"})}
    tagged = next(s for s in send if "instance" in json.dumps(s["Resource"]))
    # The instance's tag value is the stack's name: a second stack's function never reaches it.
    stack_name = {"Ref": "AWS::StackName"}
    assert tagged["Condition"] == {"StringEquals": {"ssm:resourceTag/ImageSearchRole": stack_name}}
    unscoped = {a for s in statements if s["Resource"] == "*" for a in _list(s["Action"])}
    assert unscoped == {"ssm:GetCommandInvocation", "ssm:CancelCommand", "ec2:DescribeInstances"}
    sqs = {g for g in grants if g[0].startswith("sqs:")}
    assert {r for _, r in sqs} == {json.dumps({"Fn::GetAtt": ["IngestQueue", "Arn"]})}
    assert all("*" not in a for s in statements for a in _list(s["Action"]))


def test_ingest_function_uses_the_shared_ssm_layer(resources):
    assert resources["IngestFunction"]["Properties"]["Layers"] == [{"Ref": "SsmCommandLayer"}]
