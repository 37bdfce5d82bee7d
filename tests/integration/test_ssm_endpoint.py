"""The SSM stand-in over its loopback endpoint: boto3's own SSM client sends, polls and is refused
exactly as the functions' clients are (JSON 1.1, X-Amz-Target), so handlers need no local object."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import ClientError
from devstack.ssm_client import LocalSSM
from devstack.ssm_document import Document
from devstack.ssm_endpoint import SsmEndpoint

DOC, INSTANCE = "local-doc", "i-0123456789abcdef0"
CONTENT = {"schemaVersion": "2.2",
           "parameters": {"key": {"type": "String", "interpolationType": "ENV_VAR",
                                  "allowedPattern": "^[a-z/.]+$"}},
           "mainSteps": [{"action": "aws:runShellScript", "name": "search",
                          "inputs": {"timeoutSeconds": "10", "runCommand": ['printf "%s" "$SSM_key"']}}]}


@pytest.fixture()
def ssm(monkeypatch: pytest.MonkeyPatch):
    endpoint = SsmEndpoint(LocalSSM(Document.from_content(DOC, CONTENT), [INSTANCE]))
    url = endpoint.start()
    # As a function gets it: AWS_ENDPOINT_URL_SSM, beside another AWS_ENDPOINT_URL for everything else.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    yield boto3.client("ssm", region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")  # noqa: S106 - moto's placeholder
    endpoint.stop()


def test_send_command_and_poll_its_output_through_boto3(ssm):
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["a/b.jpg"]},
                            TimeoutSeconds=30)
    command = sent["Command"]
    assert command["DocumentName"] == DOC and command["Parameters"] == {"key": ["a/b.jpg"]}
    assert command["RequestedDateTime"].year >= 2024  # a timestamp boto3 parsed
    deadline = time.monotonic() + 30
    while True:
        inv = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=INSTANCE)
        if inv["Status"] not in ("Pending", "InProgress", "Delayed") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (inv["Status"], inv["ResponseCode"], inv["StandardOutputContent"]) == ("Success", 0, "a/b.jpg")


@pytest.mark.parametrize(("call", "code"), [
    ({"DocumentName": "other-doc", "InstanceIds": [INSTANCE]}, "InvalidDocument"),
    ({"DocumentName": DOC, "InstanceIds": ["i-00000000000000000"], "Parameters": {"key": ["x"]}},
     "InvalidInstanceId"),
    ({"DocumentName": DOC, "InstanceIds": [INSTANCE], "Parameters": {"key": ["NOT allowed;"]}},
     "InvalidParameters"),
])
def test_refusals_arrive_as_boto3_client_errors(ssm, call, code):
    with pytest.raises(ClientError) as raised:
        ssm.send_command(**call)
    assert raised.value.response["Error"]["Code"] == code


def test_unknown_invocation_and_cancel(ssm):
    with pytest.raises(ClientError) as raised:
        ssm.get_command_invocation(CommandId="00000000-0000-0000-0000-000000000000", InstanceId=INSTANCE)
    assert raised.value.response["Error"]["Code"] == "InvocationDoesNotExist"
    with pytest.raises(ClientError) as raised:
        ssm.cancel_command(CommandId="00000000-0000-0000-0000-000000000000")
    assert raised.value.response["Error"]["Code"] == "InvalidCommandId"
