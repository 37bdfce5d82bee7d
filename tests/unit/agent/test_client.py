"""The thin client: its SSM_* interface, hostile values, warm and cold paths, and its imports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from imagesearch.agent import cold_path as cold_search
from imagesearch.agent.client import run
from imagesearch.env_file import load_env_file

GOOD = {"SSM_bucket": "site-bucket", "SSM_key": "albums/a/3.png", "SSM_k": "2"}

HOSTILE = [
    ("SSM_key", "albums/a/x.png; reboot"),
    ("SSM_key", "albums/a/$(touch marker).png"),
    ("SSM_key", "albums/a/`touch marker`.png"),
    ("SSM_key", "albums/../gallery/x.png"),
    ("SSM_key", "albums/a/..png"),
    ("SSM_key", "albums/a/x.png\ntouch marker"),
    ("SSM_key", "albums/a/x.png\n"),
    ("SSM_key", "albums/a/" + "x" * 5000 + ".png"),
    ("SSM_key", "results/gallery/a/x.png"),
    ("SSM_key", "uploads/../gallery/a/x.png"),
    ("SSM_key", "/etc/passwd"),
    ("SSM_key", ""),
    ("SSM_bucket", "site;reboot"),
    ("SSM_bucket", "$(id)"),
    ("SSM_bucket", "`id`"),
    ("SSM_bucket", "a..b"),
    ("SSM_bucket", "site-bucket\n"),
    ("SSM_bucket", "b" * 300),
    ("SSM_k", "0"),
    ("SSM_k", "11"),
    ("SSM_k", "5;id"),
    ("SSM_k", "$(id)"),
    ("SSM_k", "`id`"),
    ("SSM_k", "5\n"),
    ("SSM_k", "1" * 1000),
    ("SSM_k", "-1"),
    ("SSM_k", " 5"),
]

FIELD = {"SSM_key": "key", "SSM_bucket": "bucket", "SSM_k": "k"}


@pytest.fixture
def shell_trap(tmp_path):
    """A PATH whose sh/bash/dash only write a marker file: any shell the client starts is caught."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "shell-was-run"
    for name in ("sh", "bash", "dash", "zsh", "env"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\n")
        script.chmod(0o755)
    return bin_dir, marker


def client_env(extra: dict[str, str], sock: str, bin_dir=None) -> dict[str, str]:
    env = {"IMAGESEARCH_SOCKET": sock, "IMAGESEARCH_ENV_FILE": "/nonexistent/imagesearch.env",
           "IMAGESEARCH_CLIENT_TIMEOUT": "5", "PYTHONPATH": os.pathsep.join(sys.path),
           "HOME": os.environ.get("HOME", "/tmp")}
    if bin_dir is not None:
        env["PATH"] = str(bin_dir)
    env.update(extra)
    return env


def run_client(env: dict[str, str], *args: str) -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "imagesearch.agent.client", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines, proc.stderr


@pytest.mark.parametrize(("name", "value"), HOSTILE)
def test_hostile_ssm_values_are_refused_and_never_reach_a_shell(name, value, shell_trap, sock_dir):
    # GIVEN a PATH whose shells leave a marker, and one hostile SSM_* value
    bin_dir, marker = shell_trap
    env = client_env({**GOOD, name: value}, f"{sock_dir}/none.sock", bin_dir)
    # WHEN the client runs as the SSM document runs it
    code, out, _ = run_client(env)
    # THEN exactly one JSON error naming the field, exit 2, and no shell ever started
    assert code == 2
    assert len(out) == 1 and out[0]["ok"] is False
    assert out[0]["error"]["code"] == "bad_request"
    assert out[0]["error"]["message"].startswith(f"{FIELD[name]} must")
    assert len(out[0]["error"]["message"]) < 400  # a 5,000-character value is not echoed back whole
    assert not marker.exists()


def test_hostile_values_in_process_touch_no_process_api(monkeypatch):
    # Every way Python can start a process or a shell fails the test if the client reaches it.
    def forbidden(*args, **kwargs):
        raise AssertionError(f"the client tried to start a process: {args!r}")

    for name in ("system", "popen", "execv", "execve", "execvp", "execvpe", "spawnv", "spawnve",
                 "posix_spawn", "posix_spawnp", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    for name, value in HOSTILE:
        answer, code = run([], {**GOOD, name: value})
        assert code == 2 and answer["error"]["code"] == "bad_request", (name, value)


@pytest.mark.parametrize("absent", ["SSM_bucket", "SSM_key", "SSM_k"])
def test_an_ssm_parameter_that_never_arrived_is_a_deployment_fault(monkeypatch, capsys, absent):
    # GIVEN the SSM run passes no value for one document parameter (document and agent disagree)
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    env = {name: value for name, value in GOOD.items() if name != absent}
    # WHEN the client runs as SSM runs it
    answer, code = run([], env)
    # THEN it is misconfigured (500 at the API), not the user's bad request, and stderr says which
    assert code == 1 and answer["error"]["code"] == "misconfigured"
    assert absent in capsys.readouterr().err


def test_missing_flags_are_a_clear_error(monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    answer, code = run(["--k", "3"], {})
    assert code == 2 and answer["error"]["message"].startswith("bucket must")


def test_bad_flags_give_one_json_error_not_usage_text(monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    answer, code = run(["--nope"], GOOD)
    assert code == 2 and answer["error"]["code"] == "bad_request" and "--nope" in answer["error"]["message"]


def test_warm_path_answers_through_the_daemon_without_heavy_imports(start_daemon, fake_index, helpers,
                                                                     shell_trap):
    # GIVEN a running daemon
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    bin_dir, marker = shell_trap
    probe = ("import json, sys\nfrom imagesearch.agent.client import main\ncode = main()\n"
             "heavy = sorted(m for m in ('numpy', 'mxnet', 'boto3', 'botocore', 'PIL',\n"
             "    'imagesearch.index.opened', 'imagesearch.agent.cold_path')\n"
             "    if m in sys.modules)\n"
             "sys.stderr.write('HEAVY=' + json.dumps(heavy))\nsys.exit(code)\n")
    # WHEN the client runs in a fresh interpreter with the SSM_* variables
    proc = subprocess.run([sys.executable, "-c", probe], env=client_env(GOOD, path, bin_dir),
                          capture_output=True, text=True, timeout=60)
    # THEN one JSON answer on stdout, from the warm path, and nothing heavy was imported
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    answer = json.loads(line)
    assert answer["ok"] and answer["path"] == "warm"
    assert [r["key"] for r in answer["results"]] == ["gallery/a/2.png", "gallery/a/4.png"]
    assert proc.stderr.rsplit("HEAVY=", 1)[1] == "[]"
    assert not marker.exists()


def test_the_documents_own_flags_are_read_without_argparse(start_daemon, fake_index, helpers, shell_trap):
    # GIVEN the arguments the search document passes ("$SSM_bucket" and friends, already expanded)
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    bin_dir, marker = shell_trap
    probe = ("import json, sys\nfrom imagesearch.agent.client import main\n"
             "code = main(['--k', '2', '--bucket', 'site-bucket', '--key', 'albums/a/3.png'])\n"
             "sys.stderr.write('ARGPARSE=' + json.dumps('argparse' in sys.modules))\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=client_env({}, path, bin_dir),
                          capture_output=True, text=True, timeout=60)
    # THEN the warm answer, with no argparse import on that path
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["ok"] and answer["path"] == "warm"
    assert [r["key"] for r in answer["results"]] == ["gallery/a/2.png", "gallery/a/4.png"]
    assert proc.stderr.rsplit("ARGPARSE=", 1)[1] == "false"
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["--bucket", "site-bucket", "--key", "albums/a/x.png; reboot", "--k", "2"],
    ["--bucket", "site-bucket", "--key", "albums/a/$(touch marker).png", "--k", "2"],
    ["--bucket", "site-bucket", "--key", "albums/a/x.png", "--k", "2\n"],
    ["--bucket", "--key", "--key", "albums/a/x.png", "--k", "2"],
])
def test_hostile_document_arguments_are_refused(argv, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    answer, code = run(argv, {})
    assert code == 2 and answer["ok"] is False and answer["error"]["code"] == "bad_request"


def test_flags_override_the_environment(start_daemon, fake_index, monkeypatch):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    answer, code = run(["--socket", path, "--key", "albums/a/10.png", "--k", "1"], GOOD)
    assert code == 0 and answer["path"] == "warm"
    assert answer["results"][0]["key"] in {"gallery/a/9.png", "gallery/a/11.png"}


def test_daemon_errors_are_passed_through_with_exit_1(start_daemon, fake_index, monkeypatch):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    answer, code = run(["--socket", path], {**GOOD, "SSM_key": "albums/a/missing.png"})
    assert code == 1 and answer["error"]["code"] == "not_found" and answer["path"] == "warm"


def _canned_cold(monkeypatch):
    calls = []

    def fake_cold(request, settings):
        calls.append(request)
        return {"ok": True, "results": [], "index": {"version": "v1", "count": 0, "mode": "exact"},
                "timings_ms": {"featurize": 0, "search": 0, "total": 0}}

    monkeypatch.setattr(cold_search, "search_cold", fake_cold)
    monkeypatch.setenv("IMAGESEARCH_ENV_FILE", "/nonexistent")
    return calls


def test_no_daemon_falls_back_to_the_cold_path(monkeypatch, sock_dir):
    calls = _canned_cold(monkeypatch)
    answer, code = run(["--socket", f"{sock_dir}/absent.sock"], GOOD)
    assert code == 0 and answer["path"] == "cold" and "not reachable" in answer["fallback_reason"]
    assert calls[0].key == "albums/a/3.png" and calls[0].k == 2


def test_silent_daemon_falls_back_after_the_timeout(monkeypatch, sock_dir):
    calls = _canned_cold(monkeypatch)
    path = f"{sock_dir}/silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)  # accepts (in the backlog) and never answers
    try:
        answer, code = run(["--socket", path, "--timeout", "0.3"], GOOD)
    finally:
        server.close()
    assert answer["path"] == "cold" and "within 0.3 s" in answer["fallback_reason"] and calls


def test_garbage_from_the_socket_is_an_error_not_a_guess(monkeypatch, sock_dir):
    calls = _canned_cold(monkeypatch)
    path = f"{sock_dir}/garbage.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer_garbage():
        conn, _ = server.accept()
        conn.recv(1000)
        conn.sendall(b"<html>not json</html>\n")
        conn.close()

    t = threading.Thread(target=answer_garbage)
    t.start()
    try:
        answer, code = run(["--socket", path], GOOD)
    finally:
        t.join()
        server.close()
    assert code == 1 and answer["error"]["code"] == "internal" and answer["path"] == "warm" and not calls


def test_busy_daemon_is_retried_until_a_slot_frees(start_daemon, fake_index, monkeypatch):
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer, max_connections=1)
    calls = _canned_cold(monkeypatch)
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    held.connect(path)
    threading.Timer(0.4, held.close).start()
    answer, code = run(["--socket", path, "--timeout", "5"], GOOD)
    assert code == 0 and answer["path"] == "warm" and not calls


def test_env_file_fills_only_missing_known_settings(tmp_path):
    env_file = tmp_path / "imagesearch.env"
    env_file.write_text("# written by bootstrap.sh\nIMAGESEARCH_SOCKET=/run/x.sock\n"
                        "IMAGESEARCH_INDEX='s3://gallery/index'\nIMAGESEARCH_CACHE_DIR=/kept\n"
                        "LD_PRELOAD=/evil.so\nnot a line\n\nAWS_REGION=\"eu-west-1\"\n")
    environ = {"IMAGESEARCH_CACHE_DIR": "/from-env"}
    load_env_file(str(env_file), environ)
    assert environ == {"IMAGESEARCH_CACHE_DIR": "/from-env", "IMAGESEARCH_SOCKET": "/run/x.sock",
                       "IMAGESEARCH_INDEX": "s3://gallery/index", "AWS_REGION": "eu-west-1"}
    load_env_file(str(tmp_path / "absent.env"), environ)  # a missing file is fine
    assert len(environ) == 4
