"""The demo's re-index endpoint (/local/reindex) and its run, without a stack: moto in process for the
bucket and queue, publish and the daemon's reload as the stack hands them in. The whole path over
HTTP through a real stack is tests/integration/test_reindex_demo.py."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from devstack.demo_reindex import DemoReindex, ReindexBusy
from devstack.http_api import HttpApi
from devstack.reindex_endpoint import REINDEX_PATH, reindex_handler
from devstack.reindex_progress import ReindexProgress
from imagesearch.index.storage import S3IndexStore
from moto import mock_aws

from publish.template import SEARCH_FUNCTION, TEMPLATE, load_template

REPO = Path(__file__).resolve().parents[3]
ORIGIN = "http://127.0.0.1:8000"
JSON = {"Content-Type": "application/json", "Origin": ORIGIN}
BUCKET = "gallery"


@pytest.fixture()
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        dead = sqs.create_queue(QueueName="featurize-dlq")["QueueUrl"]
        yield SimpleNamespace(s3=s3, sqs=sqs, dead=dead)


def make_runner(aws, publish, reload=lambda: {"ok": True, "version": "v2"}) -> DemoReindex:
    local = SimpleNamespace(queues=SimpleNamespace(url="unused", dead_letter_url=aws.dead))
    return DemoReindex(s3=aws.s3, sqs=aws.sqs, bucket=BUCKET, publish=publish, featurize=lambda: local,
                       reload=reload, say=lambda line: None)


def wait_ended(runner: DemoReindex) -> dict:
    runner._thread.join(30)
    return runner.progress.snapshot()


def go_live(aws, version: str) -> None:
    S3IndexStore(aws.s3, BUCKET, "index").set_current(version)


# --- the run -----------------------------------------------------------------------------------------


def test_a_run_ends_with_the_new_version_and_the_daemon_serving_it(aws):
    # GIVEN a live version, and a publish that makes a new one live
    go_live(aws, "20260101T000000Z-aaaaaa")
    runner = make_runner(aws, lambda step: go_live(aws, "20260102T000000Z-bbbbbb"),
                         reload=lambda: {"ok": True, "version": "20260102T000000Z-bbbbbb"})
    # WHEN a run starts and ends
    first = runner.start()
    done = wait_ended(runner)
    # THEN it was running at once, and it is done with the new version, named both ways
    assert first["state"] == "running" and first["previous_version"] == "20260101T000000Z-aaaaaa"
    assert done["state"] == "done" and done["error"] is None
    assert done["version"] == done["daemon_version"] == "20260102T000000Z-bbbbbb"


def test_a_failed_run_says_why_and_a_new_run_may_start(aws):
    def publish(step):
        raise RuntimeError("re-index failed (internal): shard 3 of run r1 was made with other weights")

    runner = make_runner(aws, publish)
    runner.start()
    failed = wait_ended(runner)
    assert failed["state"] == "failed"
    assert failed["error"] == "re-index failed (internal): shard 3 of run r1 was made with other weights"
    # The failure does not block the next run.
    assert runner.start()["state"] == "running"
    wait_ended(runner)


def test_a_daemon_that_refuses_the_version_fails_the_run(aws):
    def reload():
        raise RuntimeError("the daemon did not load the new version: checksum mismatch")

    runner = make_runner(aws, lambda step: None, reload=reload)
    runner.start()
    assert wait_ended(runner)["error"] == "the daemon did not load the new version: checksum mismatch"


def test_a_second_start_while_one_runs_is_refused(aws):
    release = threading.Event()
    runner = make_runner(aws, lambda step: release.wait(30))
    runner.start()
    try:
        with pytest.raises(ReindexBusy, match="a re-index is already running"):
            runner.start()
    finally:
        release.set()
        wait_ended(runner)


def test_a_stopping_stack_starts_no_run(aws):
    runner = make_runner(aws, lambda step: None)
    runner.stop()
    with pytest.raises(ReindexBusy, match="stopping"):
        runner.start()


# --- the progress --------------------------------------------------------------------------------------


def test_progress_counts_images_per_second_and_the_time_left():
    now = [100.0]
    progress = ReindexProgress(clock=lambda: now[0], wall=lambda: 1_700_000_000.0)
    assert progress.snapshot()["state"] == "idle"
    progress.begin("v1")
    progress.featurized("r1", 0, 100)  # the run's plan is seen: the rate counts from here
    now[0] = 110.0
    progress.featurized("r1", 40, 100)
    snap = progress.snapshot()
    assert (snap["done"], snap["total"], snap["images_per_s"], snap["eta_s"]) == (40, 100, 4.0, 15.0)
    # The rate stops when the last shard is in (assembly and publishing do not slow it down).
    now[0] = 120.0
    progress.featurized("r1", 100, 100)
    now[0] = 200.0
    progress.finish("v2", "v2")
    snap = progress.snapshot()
    assert (snap["images_per_s"], snap["eta_s"], snap["elapsed_s"]) == (5.0, None, 100.0)
    assert snap["state"] == "done"


# --- the endpoint ----------------------------------------------------------------------------------------


@pytest.fixture()
def handler(aws):
    release = threading.Event()
    runner = make_runner(aws, lambda step: release.wait(30))
    yield SimpleNamespace(call=reindex_handler(runner, ORIGIN), runner=runner)
    release.set()
    if runner._thread is not None:
        wait_ended(runner)


def test_get_reads_the_progress(handler):
    status, answer = handler.call("GET", {}, b"")
    assert status == 200 and answer["state"] == "idle"
    assert set(answer) >= {"state", "phase", "run", "done", "total", "images_per_s", "eta_s", "version",
                           "error"}


def test_post_starts_and_a_second_post_is_409(handler):
    status, answer = handler.call("POST", JSON, b"{}")
    assert status == 202 and answer["state"] == "running"
    status, answer = handler.call("POST", JSON, b"{}")
    assert status == 409 and answer["error"]["code"] == "busy"
    assert answer["error"]["message"].startswith("a re-index is already running")
    assert answer["progress"]["state"] == "running"


def test_post_from_the_host_the_page_was_reached_by_is_its_own_origin(handler):
    # Served on --host 0.0.0.0 and opened as http://192.168.1.5:8000: Origin and Host agree.
    headers = {**JSON, "Origin": "http://192.168.1.5:8000", "Host": "192.168.1.5:8000"}
    assert handler.call("POST", headers, b"{}")[0] == 202


def test_post_without_a_body_starts_too(handler):
    assert handler.call("POST", {"Content-Type": "application/json"}, b"")[0] == 202


@pytest.mark.parametrize(("method", "headers", "body", "status", "says"), [
    ("PUT", JSON, b"{}", 405, "GET reads the re-index's progress, POST starts one"),
    ("DELETE", JSON, b"", 405, "not allowed"),
    ("POST", {**JSON, "Origin": "https://elsewhere.example"}, b"{}", 403, "only from the demo's own page"),
    ("POST", {**JSON, "Origin": "http://evil.example", "Host": "127.0.0.1:8000"}, b"{}", 403, "not from"),
    ("POST", {"Origin": ORIGIN}, b"{}", 415, "application/json"),
    ("POST", {**JSON, "Content-Type": "text/plain"}, b"{}", 415, "got text/plain"),
    ("POST", JSON, b"{not json", 400, "not JSON"),
    ("POST", JSON, b"\xff\xfe", 400, "not JSON"),
    ("POST", JSON, b'{"weights": "pretrained"}', 400, "takes no options"),
    ("POST", JSON, b"[]", 400, "takes no options"),
])
def test_bad_requests_are_refused_clearly_and_start_nothing(handler, method, headers, body, status, says):
    got, answer = handler.call(method, headers, body)
    assert got == status and says in answer["error"]["message"]
    assert handler.runner.progress.snapshot()["state"] == "idle"


# --- local only ------------------------------------------------------------------------------------------


def test_the_endpoint_is_no_route_of_the_deployed_api_or_function():
    template = load_template(TEMPLATE)
    routes = HttpApi.from_template(template, SEARCH_FUNCTION, str).routes
    assert all("reindex" not in path and not path.startswith("/local") for _, path in routes)
    assert not REINDEX_PATH.startswith("/api")
    for source in (REPO / "functions" / "search").glob("*.py"):
        assert REINDEX_PATH not in source.read_text(), source
