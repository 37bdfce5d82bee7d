"""The refresh wait (botocore Stubber sequences), stack outputs and samconfig."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from publish.cli import _index_step, parse_args
from publish.refresh import instance_state, parse_health, refresh_instance
from publish.stack import samconfig_value, stack_outputs
from publish.uploader import PublishError

INSTANCE = "i-0123456789abcdef0"
COMMAND = "11111111-2222-3333-4444-555555555555"


def _client(name: str):
    return boto3.client(name, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


class Clock:
    """A fake monotonic clock that sleep() advances."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _refresh(ssm, timeout_s: float = 100.0):
    clock = Clock()
    return refresh_instance(ssm, INSTANCE, "refresh-doc", timeout_s=timeout_s, sleep=clock.sleep,
                            clock=lambda: clock.now)


def _sent(stub: Stubber) -> None:
    stub.add_response("send_command", {"Command": {"CommandId": COMMAND}},
                      {"InstanceIds": [INSTANCE], "DocumentName": "refresh-doc",
                       "Comment": "publish: refresh agent and index"})


def _status(stub: Stubber, status: str, **extra) -> None:
    stub.add_response("get_command_invocation", {"Status": status, **extra},
                      {"CommandId": COMMAND, "InstanceId": INSTANCE})


def test_waits_through_not_yet_pending_and_in_progress_to_the_health_answer():
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        _sent(stub)
        stub.add_client_error("get_command_invocation", "InvocationDoesNotExist")
        _status(stub, "Pending")
        _status(stub, "InProgress")
        _status(stub, "Success", StandardOutputContent='installing...\n{"ok": true, "version": "v2"}\n')
        result = _refresh(ssm)
        stub.assert_no_pending_responses()
    assert result.health == {"ok": True, "version": "v2"}
    assert result.command_id == COMMAND


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "TimedOut"])
def test_a_failed_refresh_says_why(status):
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        _sent(stub)
        _status(stub, status, StatusDetails=status, StandardErrorContent="daemon did not report healthy")
        with pytest.raises(PublishError, match=f"ended {status}: daemon did not report healthy"):
            _refresh(ssm)


def test_a_refresh_past_its_deadline_is_cancelled():
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        _sent(stub)
        for _ in range(3):
            _status(stub, "InProgress")
        stub.add_response("cancel_command", {}, {"CommandId": COMMAND, "InstanceIds": [INSTANCE]})
        with pytest.raises(PublishError, match="still InProgress after 3 s; cancelled"):
            _refresh(ssm, timeout_s=3)
        stub.assert_no_pending_responses()


def test_other_errors_while_polling_are_not_swallowed():
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        _sent(stub)
        stub.add_client_error("get_command_invocation", "AccessDeniedException")
        with pytest.raises(PublishError, match="cannot read command"):
            _refresh(ssm)


def test_parse_health_takes_the_last_json_object_line():
    assert parse_health('{"a": 1}\nnoise\n{"b": 2}\n') == {"b": 2}
    assert parse_health("no json here\n{broken\n") is None


def test_instance_state_of_a_missing_instance_is_none():
    ec2 = _client("ec2")
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", "InvalidInstanceID.NotFound")
        assert instance_state(ec2, INSTANCE) is None
        stopped = {"Reservations": [{"Instances": [{"State": {"Name": "stopped"}}]}]}
        stub.add_response("describe_instances", stopped)
        assert instance_state(ec2, INSTANCE) == "stopped"


def test_stack_outputs_need_the_buckets_and_api():
    cloudformation = _client("cloudformation")
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{
            "StackName": "s", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "SiteBucketName", "OutputValue": "site"}]}]})
        with pytest.raises(PublishError, match="no output GalleryBucketName, ApiUrl"):
            stack_outputs(cloudformation, "s")


def test_samconfig_values(tmp_path):
    path = tmp_path / "samconfig.toml"
    path.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "mine"\nregion = "eu-west-1"\n')
    assert samconfig_value(path, "stack_name") == "mine"
    assert samconfig_value(path, "region") == "eu-west-1"
    assert samconfig_value(path, "nothing") is None
    assert samconfig_value(tmp_path / "missing.toml", "stack_name") is None
    path.write_text("not = [toml")
    with pytest.raises(PublishError, match="not valid TOML"):
        samconfig_value(path, "stack_name")


def test_repository_samconfig_names_the_stack():
    from publish.template import TEMPLATE

    assert samconfig_value(TEMPLATE.parent / "samconfig.toml", "stack_name") == "visual-image-search"


@pytest.mark.parametrize("argv", [["--per-album", "0"], ["--concurrency", "0"], ["--sample-count", "0"]])
def test_cli_refuses_non_positive_counts(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(argv)
    assert e.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_cli_refuses_reindex_with_no_reindex(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--reindex", "--no-reindex"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_cli_reindex_needs_the_featurize_queue():
    # A stack without FeaturizeQueueUrl: refused before anything is uploaded.
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with pytest.raises(PublishError, match="FeaturizeQueueUrl"):
        _index_step(parse_args(["--reindex"]), session, {}, print)
    # Without the flag the step is chosen when it runs (publish.reindex.choose_index_step).
    assert callable(_index_step(parse_args([]), session, {}, print)["index_step"])
