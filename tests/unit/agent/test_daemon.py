"""The daemon over its real Unix socket, with a fake Searcher at the edge (the engine has its own tests)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from imagesearch.agent.server import DaemonServer
from imagesearch.errors import SearchError
from imagesearch.json_logging import JsonFormatter


def search(helpers, path: str, n: int, k: int = 3, **extra) -> dict:
    request = {"op": "search", "bucket": helpers.SITE, "key": f"albums/a/{n}.png", "k": k, **extra}
    return helpers.ask(path, request)


def test_fifty_concurrent_queries_all_answered_correctly(start_daemon, fake_index, helpers):
    # GIVEN a daemon over 40 indexed images (0..39); 40..59 exist in S3 but are new to the index
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    queries = [(n, 1 + n % 10) for n in range(0, 60, 1)][:50]
    # WHEN 50 clients ask at once
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda q: search(helpers, path, q[0], q[1]), queries))
    # THEN every answer is right for its own query, and featurization never overlapped
    for (n, k), answer in zip(queries, answers, strict=True):
        assert answer["ok"], answer
        indexed = n < 40
        assert answer["indexed"] is indexed
        expected = helpers.expected_keys(n, k, range(40), indexed=indexed)
        assert [r["key"] for r in answer["results"]] == expected
        assert answer["index"] == {"version": "v1", "count": 40, "mode": "lsh"}
        assert set(answer["timings_ms"]) >= {"featurize", "search", "total", "fetch"}
        # The hash of the bytes the daemon read: the only key the function files this answer under.
        assert answer["query"] == {"sha256": hashlib.sha256(helpers.image_bytes(n)).hexdigest()}
    searcher = daemon.loaded.index
    assert searcher.featurized == 10
    assert searcher.max_active == 1
    # ... and always on the one model thread (MXNet keeps per-thread buffers: one thread, one set)
    assert len(searcher.featurize_threads) == 1
    assert next(iter(searcher.featurize_threads)).startswith("imagesearch-model")
    assert daemon.health()["queries_served"] == 50


def test_searches_computed_at_once_are_bounded_by_the_slots(start_daemon, fake_index, helpers, monkeypatch):
    # GIVEN a daemon with 2 search slots and searches slow enough to overlap
    monkeypatch.setattr(helpers.FakeSearcher, "search_seconds", 0.05)
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer, search_slots=2)
    # WHEN 12 clients ask at once
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: search(helpers, path, n, 3), range(12)))
    # THEN all are answered, never more than 2 searching at the same moment
    assert all(a["ok"] for a in answers)
    assert daemon.loaded.index.max_searching == 2


def test_indexed_queries_do_not_wait_behind_featurization(start_daemon, fake_index, helpers):
    # GIVEN a new image whose featurization is held mid-way (it holds the model thread)
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    searcher = daemon.loaded.index
    searcher.gate = threading.Event()
    slow_answer = {}
    slow = threading.Thread(target=lambda: slow_answer.update(search(helpers, path, 50)))
    slow.start()
    deadline = time.monotonic() + 30
    while searcher.active == 0:
        assert time.monotonic() < deadline, "featurization never started"
        time.sleep(0.01)
    # WHEN an indexed image is searched meanwhile
    answer = search(helpers, path, 7)
    still_featurizing = searcher.active == 1
    searcher.gate.set()
    slow.join()
    # THEN it was answered while the new image still held the model
    assert answer["ok"] and answer["indexed"] and still_featurizing
    assert slow_answer["ok"] and not slow_answer["indexed"]


def test_self_match_is_excluded(start_daemon, fake_index, helpers):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    answer = search(helpers, path, 10, k=2)
    assert [r["key"] for r in answer["results"]] == ["gallery/a/9.png", "gallery/a/11.png"]


def test_new_version_during_a_stream_of_queries_loses_none(start_daemon, fake_index, helpers):
    # GIVEN a daemon on v1 and a stream of queries from several threads
    fake_index.versions["v2"] = range(0, 50)
    fake_index.open_seconds = 0.3  # opening takes a while; queries must keep flowing on v1
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    stop = threading.Event()
    answers: list[dict] = []
    lock = threading.Lock()

    def stream(n: int) -> None:
        while not stop.is_set():
            a = search(helpers, path, n)
            with lock:
                answers.append(a)

    threads = [threading.Thread(target=stream, args=(n,)) for n in (3, 12, 45)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    # WHEN v2 is published and the daemon is told to reload
    fake_index.current = "v2"
    reloaded = helpers.ask(path, {"op": "reload"})
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    # THEN no query failed, each saw exactly one whole version, and health shows v2
    assert reloaded["ok"] and reloaded["changed"] and reloaded["version"] == "v2"
    assert answers and all(a["ok"] for a in answers)
    versions = {a["index"]["version"] for a in answers}
    assert versions == {"v1", "v2"}
    for a in answers:
        assert a["index"]["count"] == (40 if a["index"]["version"] == "v1" else 50)
    health = helpers.ask(path, {"op": "health"})
    assert health["index"]["version"] == "v2" and health["index"]["count"] == 50
    # The featurizer (the loaded model) is handed to the new version rather than loaded again.
    assert fake_index.opened[1].featurizer is fake_index.opened[0].featurizer


def test_poller_picks_up_a_new_version(start_daemon, fake_index, helpers):
    fake_index.versions["v2"] = range(0, 50)
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer, reload_seconds=0.05)
    stop = threading.Event()
    daemon.start_poller(stop)
    try:
        fake_index.current = "v2"
        deadline = time.monotonic() + 5
        while helpers.ask(path, {"op": "health"})["index"]["version"] != "v2":
            assert time.monotonic() < deadline, "poller never switched to v2"
            time.sleep(0.05)
    finally:
        stop.set()


def test_corrupt_new_version_is_refused_and_the_old_keeps_serving(start_daemon, fake_index, helpers):
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    fake_index.versions["v2"] = range(0, 50)
    fake_index.broken.add("v2")
    fake_index.current = "v2"
    answer = helpers.ask(path, {"op": "reload"})
    assert answer["ok"] is False and answer["error"]["code"] == "index_unavailable"
    assert "v2" in answer["error"]["message"]
    health = helpers.ask(path, {"op": "health"})
    assert health["index"]["version"] == "v1"
    assert health["refused"]["version"] == "v2" and "corrupt" in health["refused"]["error"]
    assert search(helpers, path, 5)["ok"]
    # A poll does not retry the same broken version; a fixed publish of it is picked up on request.
    assert daemon.reload("poll")["ok"] is False and len(fake_index.opened) == 1
    fake_index.broken.clear()
    assert helpers.ask(path, {"op": "reload"})["version"] == "v2"
    assert helpers.ask(path, {"op": "health"})["refused"] is None


def test_version_that_fails_its_smoke_query_is_refused(start_daemon, fake_index, helpers):
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    fake_index.versions["v2"] = range(0, 5)
    original_open = fake_index.open

    def open_truncated(*args, **kwargs):
        searcher = original_open(*args, **kwargs)
        searcher.numbers = []  # arrays shorter than the manifest says: vector(0) fails
        return searcher

    daemon.live._open_index = open_truncated
    fake_index.current = "v2"
    assert daemon.reload()["ok"] is False
    assert daemon.health()["index"]["version"] == "v1"
    assert "IndexError" in daemon.health()["refused"]["error"]


def test_starts_without_an_index_and_loads_it_when_published(start_daemon, fake_index, helpers):
    fake_index.current = None
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    health = helpers.ask(path, {"op": "health"})
    assert health["status"] == "no_index" and health["index"] is None
    answer = search(helpers, path, 1)
    assert answer["error"]["code"] == "index_unavailable"
    fake_index.current = "v1"
    assert helpers.ask(path, {"op": "reload"})["version"] == "v1"
    assert search(helpers, path, 1)["ok"]


def test_unreadable_pointer_is_refused_not_fatal(start_daemon, fake_index, helpers):
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)

    def broken_pointer(root, s3):
        raise ValueError("current.json is not JSON")

    daemon.live._read_pointer = broken_pointer
    assert daemon.reload("poll")["ok"] is False
    assert "not JSON" in daemon.health()["refused"]["error"]
    assert search(helpers, path, 2)["ok"]


S = b'{"op": "search", "bucket": "site-bucket", '
HOSTILE = [
    (b"not json\n", "not valid JSON"),
    (b"[1, 2]\n", "JSON object"),
    (b"\xff\xfe\n", "not valid JSON"),
    (b'{"op": "shutdown"}\n', "op must be"),
    (b'{"op": "health", "extra": 1}\n', "unexpected fields"),
    (S + b'"key": "albums/a/1.png"}\n', "k must be"),
    (S + b'"key": "albums/a/1.png", "k": 11}\n', "k must be"),
    (S + b'"key": "albums/a/1.png", "k": true}\n', "k must be"),
    (S + b'"key": "albums/a/1.png", "k": 1.5}\n', "k must be"),
    (S + b'"key": "albums/../etc/passwd", "k": 1}\n', "key must"),
    (S + b'"key": "albums/a/$(reboot).png", "k": 1}\n', "key must"),
    (S + b'"key": "albums/a/x.png\\n", "k": 1}\n', "key must"),
    (S + b'"key": "uploads/not-an-upload-id", "k": 1}\n', "key must"),  # gallery/ keys are valid queries now
    (b'{"op": "search", "bucket": "Site;rm -rf /", "key": "albums/a/1.png", "k": 1}\n', "bucket must"),
    (S + b'"key": "albums/a/1.png", "k": 1, "mode": "x"}\n', "mode"),
    (S + b'"key": "albums/a/1.png", "k": 1, "cmd": "x"}\n', "unexpected"),
]


@pytest.mark.parametrize(("line", "message"), HOSTILE)
def test_malformed_and_hostile_requests_get_error_objects(start_daemon, fake_index, helpers, line, message):
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    answer = helpers.ask(path, line)
    assert answer["ok"] is False and answer["error"]["code"] == "bad_request"
    assert message in answer["error"]["message"]
    assert search(helpers, path, 4)["ok"]  # still serving


def test_oversized_request_line_is_refused_and_daemon_keeps_serving(start_daemon, fake_index, helpers):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, max_request_bytes=1024)
    answer = helpers.ask(path, b'{"op": "health", "pad": "' + b"A" * 1_000_000 + b'"}\n')
    assert answer["error"]["code"] == "bad_request" and "longer than 1024" in answer["error"]["message"]
    assert search(helpers, path, 4)["ok"]


def test_error_answers_for_missing_oversized_and_non_image_objects(start_daemon, fake_index, helpers, s3):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, max_image_bytes=100,
                              allowed_buckets=frozenset({helpers.SITE}))
    s3.put_object(Bucket=helpers.SITE, Key="albums/a/big.png", Body=b"img:1" + b"0" * 200)
    s3.put_object(Bucket=helpers.SITE, Key="albums/a/text.png", Body=b"hello, not an image")
    s3.create_bucket(Bucket="other-bucket")
    cases = {
        ("albums/a/none.png", helpers.SITE): "not_found",
        ("albums/a/big.png", helpers.SITE): "too_large",
        ("albums/a/text.png", helpers.SITE): "bad_image",
        ("albums/a/1.png", "other-bucket"): "bad_request",
    }
    for (key, bucket), code in cases.items():
        answer = helpers.ask(path, {"op": "search", "bucket": bucket, "key": key, "k": 1})
        assert answer["ok"] is False and answer["error"]["code"] == code, (key, answer)
    health = helpers.ask(path, {"op": "health"})
    assert health["errors"] == {"not_found": 1, "too_large": 1, "bad_image": 1, "bad_request": 1}


def test_several_requests_on_one_connection_and_blank_lines(start_daemon, fake_index, helpers):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(b'\n{"op": "health"}\n\n' + S + b'"key": "albums/a/1.png", "k": 1}\n')
        f = s.makefile("rb")
        first, second = json.loads(f.readline()), json.loads(f.readline())
    assert first["status"] == "serving"
    assert second["results"] == [{"key": "gallery/a/0.png", "score": 0.5}]


def test_idle_connection_is_closed_after_the_timeout(start_daemon, fake_index, helpers):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, conn_timeout=0.2)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b'{"op": "hea')  # never finished
        assert s.recv(100) == b""  # the daemon hung up
    assert search(helpers, path, 4)["ok"]


def test_a_client_trickling_bytes_is_cut_off_at_the_request_deadline(start_daemon, fake_index, helpers):
    # GIVEN a daemon whose requests must arrive within 1 s, and a client sending one byte every 0.1 s
    # (each read well within the timeout: a per-read timeout never fired)
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, conn_timeout=1.0)
    started = time.monotonic()
    closed_after = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.settimeout(0.1)
        for byte in b'{"op": "health"' * 20:
            try:
                s.sendall(bytes([byte]))
                if s.recv(100) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue  # nothing to read yet: the daemon still holds the connection
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
    # THEN the daemon hung up at the request's deadline, not after the 30 s of trickling
    assert closed_after is not None and closed_after < 5.0
    assert search(helpers, path, 4)["ok"]


def test_connections_over_the_limit_are_told_to_retry(start_daemon, fake_index, helpers):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, max_connections=1, conn_timeout=5)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as held:
        held.connect(path)
        time.sleep(0.1)
        answer = helpers.ask(path, {"op": "health"})
        assert answer["ok"] is False and answer["retry"] is True and "busy" in answer["error"]["message"]
    time.sleep(0.1)
    assert helpers.ask(path, {"op": "health"})["ok"]


def test_unexpected_searcher_failure_is_an_internal_error(start_daemon, fake_index, helpers):
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer)

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    daemon.loaded.index.search_vector = explode
    answer = search(helpers, path, 3)
    assert answer["error"] == {"code": "internal", "message": "RuntimeError: boom"}
    assert helpers.ask(path, {"op": "health"})["ok"]


def test_stale_socket_file_is_replaced_but_a_live_one_is_not(start_daemon, fake_index, sock_dir):
    daemon, server, path = start_daemon(fake_index.open, fake_index.read_pointer)
    with pytest.raises(SearchError, match="already listening"):
        DaemonServer(daemon, path)
    stale = f"{sock_dir}/stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()  # the file stays, nobody listens: what a crashed daemon leaves
    replacement = DaemonServer(daemon, stale).start()
    try:
        assert os.path.exists(stale)
    finally:
        replacement.close()
    assert not os.path.exists(stale)
    with open(f"{sock_dir}/plain", "w") as f:
        f.write("x")
    with pytest.raises(SearchError, match="not a socket"):
        DaemonServer(daemon, f"{sock_dir}/plain")


def test_socket_file_is_not_world_accessible(start_daemon, fake_index):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    assert os.stat(path).st_mode & 0o007 == 0


def test_logs_are_json_lines_with_fields(start_daemon, fake_index, helpers, caplog):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    with caplog.at_level("INFO", logger="imagesearch.agent.daemon"):
        search(helpers, path, 8)
    records = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "request"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["op"] == "search" and line["key"] == "albums/a/8.png" and line["ok"] is True
    assert line["level"] == "info" and line["version"] == "v1"


def test_a_small_query_is_served_while_a_large_decode_holds_the_lane(start_daemon, fake_index, helpers,
                                                                     s3):
    # GIVEN a daemon with one large-decode lane, and two large new images whose decodes are held
    daemon, _, path = start_daemon(fake_index.open, fake_index.read_pointer, large_decodes=1)
    searcher = daemon.loaded.index
    searcher.decode_gate = threading.Event()
    for n in (1000, 1001, 50):
        s3.put_object(Bucket=helpers.SITE, Key=f"albums/a/{n}.png", Body=helpers.image_bytes(n))
    large_answers: list[dict] = []
    large = [threading.Thread(target=lambda n=n: large_answers.append(search(helpers, path, n)))
             for n in (1000, 1001)]
    for t in large:
        t.start()
    deadline = time.monotonic() + 30
    while searcher.decoding == 0:
        assert time.monotonic() < deadline, "the large decode never started"
        time.sleep(0.01)
    # WHEN a small new image is searched meanwhile
    answer = search(helpers, path, 50)
    # THEN it was decoded and featurized while one large decode held the lane and the other waited
    # for it (one lane: never two large decodes at once)
    held = searcher.decoding
    searcher.decode_gate.set()
    for t in large:
        t.join()
    assert answer["ok"] and not answer["indexed"]
    assert held == 1
    assert len(large_answers) == 2 and all(a["ok"] for a in large_answers)
