"""The local SSM stand-in: the template's own document, SSM's validation, statuses, output, timeouts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from devstack.ssm_client import LocalSSM, from_template
from devstack.ssm_document import Document, DocumentError, env_var_interpolation

from publish.template import load_template, search_document

INSTANCE = "i-0123456789abcdef0"
DOC = "test-doc"
TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled", "Undeliverable"}
_SSM_MODEL = botocore.session.get_session().get_service_model("ssm")


def content(commands, *, timeout="10", parameters=None) -> dict:
    """A schemaVersion 2.2 document like the template's, with our own commands."""
    if parameters is None:
        parameters = {"key": {"type": "String", "interpolationType": "ENV_VAR", "allowedPattern": "^.*$"}}
    return {"schemaVersion": "2.2", "parameters": parameters,
            "mainSteps": [{"action": "aws:runShellScript", "name": "search",
                           "inputs": {"timeoutSeconds": timeout, "runCommand": commands}}]}


def runner(commands, **kwargs) -> LocalSSM:
    visible = kwargs.pop("visible_after_s", 0.0)
    document = Document.from_content(DOC, content(commands, **kwargs))
    return LocalSSM(document, [INSTANCE], visible_after_s=visible)


def wait_done(ssm: LocalSSM, command_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=INSTANCE)
        if inv["Status"] in TERMINAL:
            return inv
        time.sleep(0.02)
    raise AssertionError(f"command {command_id} did not finish")


def assert_shape(operation: str, response: dict) -> None:
    """The response matches the output shape of boto3's SSM client for the operation."""
    shape = _SSM_MODEL.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def template_doc() -> dict:
    return search_document(load_template())


# --- the template's document -------------------------------------------------------------------


def test_runs_the_command_text_of_template_yaml(template_doc):
    # GIVEN the runner built from template.yaml THEN its script is the document's runCommand, verbatim
    ssm = from_template(load_template(), "search-doc", [INSTANCE])
    assert ssm.document.step.commands == tuple(template_doc["mainSteps"][0]["inputs"]["runCommand"])
    assert ssm.document.step.commands == (
        'imagesearch-query --bucket "{{ bucket }}" --key "{{ key }}" --k "{{ k }}"',)
    assert ssm.document.step.timeout_s == float(template_doc["mainSteps"][0]["inputs"]["timeoutSeconds"])
    assert set(ssm.document.parameters) == {"bucket", "key", "k"}


@pytest.mark.parametrize(("name", "value"), [
    ("key", "albums/marble/../../etc/passwd"),
    ("key", "albums/marble/x.png; rm -rf /"),
    ("key", "albums/marble/$(id).png"),
    ("key", "results/gallery/marble/x.png"),
    ("key", "albums/marble/x.png\n"),
    ("key", ""),
    ("k", "0"),
    ("k", "11"),
    ("k", "5 "),
    ("k", "-1"),
    ("bucket", "My_Bucket"),
    ("bucket", "bucket.with.dots"),
    ("bucket", "b"),
])
def test_rejects_what_the_allowed_pattern_rejects(template_doc, name, value):
    ssm = from_template(load_template(), "search-doc", [INSTANCE])
    params = {"bucket": ["site-bucket"], "key": ["albums/marble/x.png"], "k": ["5"]}
    params[name] = [value]
    with pytest.raises(ClientError) as excinfo:
        ssm.send_command(DocumentName="search-doc", InstanceIds=[INSTANCE], Parameters=params)
    assert error_code(excinfo) == "InvalidParameters"


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"DocumentName": "AWS-RunShellScript"}, "InvalidDocument"),
    ({"InstanceIds": ["i-00000000000000000"]}, "InvalidInstanceId"),
    ({"Parameters": {"key": ["albums/a/b.png"], "k": ["5"]}}, "InvalidParameters"),  # bucket missing
    ({"Parameters": {"bucket": ["site-bucket"], "key": ["albums/a/b.png"], "k": ["5"], "x": ["1"]}},
     "InvalidParameters"),
    ({"Parameters": {"bucket": ["site-bucket"], "key": ["albums/a/b.png", "albums/a/c.png"], "k": ["5"]}},
     "InvalidParameters"),
])
def test_send_command_errors_like_ssm(kwargs, code):
    ssm = from_template(load_template(), "search-doc", [INSTANCE])
    call = {"DocumentName": "search-doc", "InstanceIds": [INSTANCE],
            "Parameters": {"bucket": ["site-bucket"], "key": ["albums/a/b.png"], "k": ["5"]}, **kwargs}
    with pytest.raises(ClientError) as excinfo:
        ssm.send_command(**call)
    assert error_code(excinfo) == code


@pytest.mark.parametrize("bad", [
    {"interpolationType": None},
    {"runCommand": ["imagesearch-query --key {{ key }}"]},  # unquoted: the shell would split it
    {"runCommand": ['imagesearch-query --key "albums/{{ key }}"']},  # not alone in its quotes
    {"runCommand": ["imagesearch-query --key '{{ key }}'"]},  # single quotes keep $SSM_key literal
    {"runCommand": ['imagesearch-query --key "{{ other }}"']},  # not a parameter of the document
    {"action": "aws:runPowerShellScript"},
])
def test_refuses_documents_that_would_put_values_in_command_text(bad):
    doc = content(bad.get("runCommand", ["true"]))
    if "interpolationType" in bad:
        doc["parameters"]["key"].pop("interpolationType")
    if "action" in bad:
        doc["mainSteps"][0]["action"] = bad["action"]
    with pytest.raises(DocumentError):
        Document.from_content(DOC, doc)


# --- running ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "script"), [
    ('q --key "{{ key }}"', 'q --key "$SSM_key"'),
    ('q --key "{{key}}" --k "{{  k  }}"', 'q --key "$SSM_key" --k "$SSM_k"'),
    ("echo no references", "echo no references"),
])
def test_references_become_environment_variable_references_as_the_agent_does(line, script):
    assert env_var_interpolation(line) == script


@pytest.mark.parametrize("hostile", [
    "$(touch {marker})",
    "`touch {marker}`",
    '"; touch {marker}; echo "',
    "x\ntouch {marker}",
    "$SSM_key ${{IFS}} * ? [a] ~ \\ ' \"",
])
def test_hostile_values_through_the_agents_substitution_stay_one_argument(tmp_path, hostile):
    # GIVEN a document that names its parameter in the command text, as the search document does,
    # and a value that would run a command if it were pasted into the script
    marker = tmp_path / "pwned"
    value = hostile.format(marker=marker)
    # (no allowedPattern here: the substitution alone must hold, newlines included)
    ssm = runner(['printf "[%s]" "{{ key }}" "$#"', 'set -- "{{ key }}"; printf "%s" "$#"'],
                 parameters={"key": {"type": "String", "interpolationType": "ENV_VAR"}})
    # WHEN the runner substitutes the reference and runs the script with sh
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": [value]})
    inv = wait_done(ssm, sent["Command"]["CommandId"])
    # THEN the value arrived as exactly one argument, unchanged, and nothing ran
    assert inv["Status"] == "Success", inv["StandardErrorContent"]
    assert inv["StandardOutputContent"] == f"[{value}][0]1"
    assert not marker.exists()


def test_values_reach_the_script_only_as_environment_variables(tmp_path):
    # GIVEN a value that would run a command if it were pasted into the script
    marker = tmp_path / "pwned"
    ssm = runner(['printf "%s" "$SSM_key"'])
    hostile = f"$(touch {marker}); `touch {marker}`"
    # WHEN it runs
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": [hostile]})
    inv = wait_done(ssm, sent["Command"]["CommandId"])
    # THEN the script saw the value as data and nothing ran
    assert inv["Status"] == "Success"
    assert inv["StandardOutputContent"] == hostile
    assert not marker.exists()


def test_status_moves_from_not_yet_to_in_progress_to_success():
    ssm = runner(["sleep 0.5", "echo done"], visible_after_s=0.2)
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["x"]})
    assert_shape("SendCommand", sent)
    command_id = sent["Command"]["CommandId"]
    assert sent["Command"]["Status"] == "Pending"
    # Right after sending, the invocation does not exist yet, as with real SSM.
    with pytest.raises(ClientError) as excinfo:
        ssm.get_command_invocation(CommandId=command_id, InstanceId=INSTANCE)
    assert error_code(excinfo) == "InvocationDoesNotExist"
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=INSTANCE)
        except ClientError:
            continue
        assert_shape("GetCommandInvocation", inv)
        if not seen or seen[-1] != inv["Status"]:
            seen.append(inv["Status"])
        if inv["Status"] in TERMINAL:
            break
        time.sleep(0.02)
    assert seen[-1] == "Success"
    assert "InProgress" in seen
    assert inv["StandardOutputContent"] == "done\n"
    assert inv["ResponseCode"] == 0
    assert inv["PluginName"] == "search"


def test_a_non_zero_exit_is_failed_with_its_code_and_output():
    ssm = runner(['echo \'{"ok": false}\'', "echo oops >&2", "exit 3"])
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["x"]})
    inv = wait_done(ssm, sent["Command"]["CommandId"])
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("Failed", "Failed", 3)
    assert inv["StandardOutputContent"] == '{"ok": false}\n'
    assert inv["StandardErrorContent"] == "oops\n"


def test_the_document_timeout_ends_the_command_as_timed_out():
    ssm = runner(["sleep 30"], timeout="1")
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["x"]})
    inv = wait_done(ssm, sent["Command"]["CommandId"], timeout=20)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")


def test_cancel_stops_a_running_command():
    ssm = runner(["sleep 30"])
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["x"]})
    command_id = sent["Command"]["CommandId"]
    assert ssm.cancel_command(CommandId=command_id, InstanceIds=[INSTANCE])["ResponseMetadata"]
    inv = wait_done(ssm, command_id, timeout=20)
    assert inv["Status"] == "Cancelled"


def test_unknown_ids_raise_the_codes_ssm_raises():
    ssm = runner(["true"])
    with pytest.raises(ClientError) as excinfo:
        ssm.get_command_invocation(CommandId="00000000-0000-0000-0000-000000000000", InstanceId=INSTANCE)
    assert error_code(excinfo) == "InvocationDoesNotExist"
    with pytest.raises(ClientError) as excinfo:
        ssm.cancel_command(CommandId="00000000-0000-0000-0000-000000000000")
    assert error_code(excinfo) == "InvalidCommandId"


def test_output_is_cut_at_ssm_limit():
    ssm = runner(["head -c 30000 /dev/zero | tr '\\0' x"])
    sent = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE], Parameters={"key": ["x"]})
    inv = wait_done(ssm, sent["Command"]["CommandId"])
    assert inv["Status"] == "Success"
    assert len(inv["StandardOutputContent"]) == 24000


def test_the_template_document_runs_the_thin_client(tmp_path: Path):
    # GIVEN no daemon and no index THEN the thin client's JSON error is the output and the status is Failed
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "IMAGESEARCH_ENV_FILE": str(tmp_path / "none.env"),
           "IMAGESEARCH_SOCKET": str(tmp_path / "no.sock"),
           "IMAGESEARCH_INDEX": str(tmp_path / "no-index"),
           "IMAGESEARCH_COLD_CACHE_DIR": str(tmp_path / "cold"),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    ssm = from_template(load_template(), "search-doc", [INSTANCE], env=env)
    params = {"bucket": ["site-bucket"], "key": ["albums/marble/x.png"], "k": ["3"]}
    sent = ssm.send_command(DocumentName="search-doc", InstanceIds=[INSTANCE], Parameters=params)
    inv = wait_done(ssm, sent["Command"]["CommandId"], timeout=120)
    assert inv["Status"] == "Failed", inv
    answer = json.loads(inv["StandardOutputContent"])
    assert answer["ok"] is False
    assert answer["error"]["code"] in {"index_unavailable", "not_found", "internal"}


def test_a_stopped_instance_is_undeliverable_and_nothing_runs(tmp_path):
    # GIVEN a runner whose instance is stopped in EC2 (the state is read at each delivery)
    marker = tmp_path / "ran"
    state = {"name": "stopped"}
    document = Document.from_content(DOC, content([f"touch {marker}"]))
    ssm = LocalSSM(document, [INSTANCE], instance_state=lambda instance_id: state["name"])
    # WHEN a command is sent to it
    command_id = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE],
                                  Parameters={"key": ["x"]})["Command"]["CommandId"]
    inv = wait_done(ssm, command_id)
    # THEN it ends Undeliverable, as on AWS, and the script never ran
    assert (inv["Status"], inv["StatusDetails"]) == ("Undeliverable", "Undeliverable")
    assert inv["ResponseCode"] == -1
    assert not marker.exists()
    # ... and once the instance runs again, commands are delivered
    state["name"] = "running"
    command_id = ssm.send_command(DocumentName=DOC, InstanceIds=[INSTANCE],
                                  Parameters={"key": ["x"]})["Command"]["CommandId"]
    assert wait_done(ssm, command_id)["Status"] == "Success" and marker.exists()
