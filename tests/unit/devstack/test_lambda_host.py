"""The local Lambda host: a process per container, lazy cold starts, the template's runtime, Timeout
and Environment; tiny handlers in a temporary folder, so each test takes a second or two."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from devstack.lambda_host import FunctionCode, FunctionError, LambdaHost, http_api_event, runtime_python

REPO = Path(__file__).resolve().parents[3]

HANDLERS = '''
import os
import sys
import time

import helper  # a sibling module, found on the code folder's path
from shared_thing import LAYER  # from the layer's folder, as /opt/python


def pid(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}


def version(event, context):
    return {"version": list(sys.version_info[:2]), "layer": LAYER, "helper": helper.NAME}


def environment(event, context):
    return {name: os.environ.get(name) for name in event["names"]}


def fails(event, context):
    raise ValueError("no such album")


def prints(event, context):
    print("a log line on stdout must not break the answer")
    return {"ok": True}
'''


def template(timeout_s: int = 1) -> dict:
    """A tiny template: one function with a layer, its Timeout, MemorySize, Runtime and Environment."""
    return {
        "Globals": {"Function": {"Runtime": "python3.12", "MemorySize": 256, "Timeout": 28,
                                 "Environment": {"Variables": {"FROM_GLOBALS": "g"}}}},
        "Resources": {
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer/"}},
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": "fn/", "Handler": "handlers.pid", "Timeout": timeout_s,
                "Layers": [{"Ref": "Layer"}], "Environment": {"Variables": {"OWN": "o"}}}},
        },
    }


@pytest.fixture()
def function_root(tmp_path: Path) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "layer").mkdir()
    (tmp_path / "fn" / "handlers.py").write_text(HANDLERS)
    (tmp_path / "fn" / "helper.py").write_text('NAME = "helper"\n')
    (tmp_path / "layer" / "shared_thing.py").write_text('LAYER = "layer"\n')
    return tmp_path


@pytest.fixture(scope="module")
def python() -> str:
    return runtime_python("python3.12", REPO)


def host_for(root: Path, handler: str, python: str, *, timeout_s: int = 1, env: dict | None = None,
             max_containers: int = 4) -> LambdaHost:
    code = FunctionCode.from_template(template(timeout_s), "Fn", root)
    code = FunctionCode(code.code_dir, code.layer_dirs, f"handlers.{handler}", code.timeout_ms, code.name,
                        code.memory_mb, code.runtime)
    return LambdaHost(code, env or {}, python=python, max_containers=max_containers)


def test_function_code_reads_the_template(function_root: Path):
    code = FunctionCode.from_template(template(5), "Fn", function_root, name="local-fn")
    assert code.code_dir == function_root / "fn"
    assert code.layer_dirs == (function_root / "layer",)
    assert (code.handler, code.timeout_ms, code.memory_mb, code.runtime, code.name) == (
        "handlers.pid", 5000, 256, "python3.12", "local-fn")


def test_a_property_given_by_a_parameter_takes_its_default(function_root: Path):
    # GIVEN a memory size set by a template parameter (as FeaturizeMemorySize is)
    tpl = template(5)
    tpl["Parameters"] = {"FnMemory": {"Type": "Number", "Default": 2048}}
    tpl["Resources"]["Fn"]["Properties"]["MemorySize"] = {"Ref": "FnMemory"}
    # THEN the local function gets the parameter's default
    assert FunctionCode.from_template(tpl, "Fn", function_root).memory_mb == 2048


def test_two_invocations_at_once_run_in_two_processes(function_root: Path, python: str):
    # GIVEN a host with no container yet
    host = host_for(function_root, "pid", python, timeout_s=10)
    answers: list[dict] = []
    try:
        assert host.containers == 0  # nothing starts before the first invocation
        # WHEN two invocations of one function run at once
        threads = [threading.Thread(target=lambda: answers.append(host.invoke({"sleep": 0.8})))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        # THEN each ran in its own process (neither this one), both cold starts
        pids = {a["pid"] for a in answers}
        assert len(answers) == 2 and len(pids) == 2 and os.getpid() not in pids
        assert host.cold_starts == 2 and host.containers == 2
        # AND a later invocation reuses a warm container rather than starting a third
        assert host.invoke({})["pid"] in pids
        assert host.cold_starts == 2
    finally:
        host.close()


def test_the_cap_makes_a_third_invocation_wait_for_a_free_container(function_root: Path, python: str):
    host = host_for(function_root, "pid", python, timeout_s=10, max_containers=1)
    answers: list[dict] = []
    try:
        threads = [threading.Thread(target=lambda: answers.append(host.invoke({"sleep": 0.3})))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len({a["pid"] for a in answers}) == 1 and host.cold_starts == 1
    finally:
        host.close()


def test_a_handler_past_its_timeout_gets_lambdas_timeout_error(function_root: Path, python: str):
    # GIVEN a function whose template Timeout is 1 s
    host = host_for(function_root, "pid", python, timeout_s=1)
    try:
        first = host.invoke({})["pid"]
        assert 0 < host.invoke({})["remaining_ms"] <= 1000  # the context counts down from the Timeout
        # WHEN its handler sleeps past it
        with pytest.raises(FunctionError) as raised:
            host.invoke({"sleep": 5})
        # THEN the caller gets Lambda's timeout error, and the container's process is gone
        payload = raised.value.payload
        assert raised.value.timed_out
        assert payload["errorType"] == "Sandbox.Timedout"
        assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        # AND the next invocation gets a fresh container
        assert host.invoke({})["pid"] != first
    finally:
        host.close()


def test_the_functions_run_on_the_templates_runtime(function_root: Path, python: str):
    if not python.endswith(os.path.join(".venv-runtime", "bin", "python")):
        pytest.skip("no python3.12 runtime environment (make .venv-runtime/.installed builds it)")
    host = host_for(function_root, "version", python)
    try:
        assert host.invoke({}) == {"version": [3, 12], "layer": "layer", "helper": "helper"}
    finally:
        host.close()


def test_each_container_gets_the_functions_environment_only(function_root: Path, python: str,
                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOST_ONLY_SETTING", "not for the function")
    host = host_for(function_root, "environment", python, env={"OWN": "o", "AWS_ENDPOINT_URL_SSM": "http://x"})
    try:
        names = ["OWN", "AWS_ENDPOINT_URL_SSM", "HOST_ONLY_SETTING", "AWS_LAMBDA_FUNCTION_NAME",
                 "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_EXECUTION_ENV"]
        assert host.invoke({"names": names}) == {
            "OWN": "o", "AWS_ENDPOINT_URL_SSM": "http://x", "HOST_ONLY_SETTING": None,
            "AWS_LAMBDA_FUNCTION_NAME": "Fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}
    finally:
        host.close()


def test_an_unhandled_exception_is_the_invocations_error(function_root: Path, python: str):
    host = host_for(function_root, "fails", python)
    try:
        with pytest.raises(FunctionError) as raised:
            host.invoke({})
        assert raised.value.payload["errorType"] == "ValueError"
        assert raised.value.payload["errorMessage"] == "no such album"
        assert not raised.value.timed_out
    finally:
        host.close()


def test_printing_handlers_and_import_errors(function_root: Path, python: str):
    host = host_for(function_root, "prints", python)
    try:
        assert host.invoke({}) == {"ok": True}
    finally:
        host.close()
    (function_root / "fn" / "broken.py").write_text("import no_such_module\n")
    code = FunctionCode(function_root / "fn", (), "broken.handler", 1000)
    broken = LambdaHost(code, {}, python=python)
    try:
        with pytest.raises(FunctionError) as raised:
            broken.invoke({})
        assert raised.value.payload["errorType"].startswith("Runtime.ImportModuleError")
    finally:
        broken.close()


ECHO = '''
import time
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/echo")
def echo():
    before = app.current_event.body
    time.sleep(0.3)  # the other invocation resolves its own event meanwhile
    return {"before": before, "after": app.current_event.body}


def lambda_handler(event, context):
    return app.resolve(event, context)
'''


def test_concurrent_invocations_each_read_their_own_event(tmp_path: Path, python: str):
    # GIVEN a Powertools HTTP function whose route reads the current event before and after a pause
    # (Powertools keeps it on a class shared by every resolver of a process)
    (tmp_path / "echo_app.py").write_text(ECHO)
    code = FunctionCode(code_dir=tmp_path, layer_dirs=(), handler="echo_app.lambda_handler", timeout_ms=20000)
    host = LambdaHost(code, {"POWERTOOLS_TRACE_DISABLED": "true"}, python=python, max_containers=2)
    answers: dict[str, dict] = {}

    def call(body: str) -> None:
        answers[body] = host.invoke(http_api_event("POST", "/echo", "", {}, body.encode(),
                                                   route_key="POST /echo"))

    try:
        # WHEN two requests run at once
        threads = [threading.Thread(target=call, args=(body,)) for body in ("first", "second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        host.close()
    # THEN each answer is built from its own event from start to end
    assert set(answers) == {"first", "second"}
    for body, answer in answers.items():
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"]) == {"before": body, "after": body}
