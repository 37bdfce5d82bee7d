"""`imagesearch health|reload|serve`: wired into the CLI, answering through the daemon's socket."""

from __future__ import annotations

import json

from imagesearch.cli import daemon as daemon_commands
from imagesearch.cli import parser as cli


def test_health_and_reload_print_the_daemons_answer(start_daemon, fake_index, capsys):
    # GIVEN a running daemon on v1, and v2 published
    _, _, path = start_daemon(fake_index.open, fake_index.read_pointer)
    fake_index.versions["v2"] = range(0, 50)
    fake_index.current = "v2"
    # WHEN an operator asks it to reload, then for its health
    assert cli.main(["reload", "--socket", path]) == 0
    reloaded = json.loads(capsys.readouterr().out)
    assert cli.main(["health", "--socket", path]) == 0
    health = json.loads(capsys.readouterr().out)
    # THEN both answers are the daemon's own
    assert reloaded["changed"] is True and reloaded["version"] == "v2"
    assert health["status"] == "serving" and health["index"]["version"] == "v2"


def test_health_without_a_daemon_is_an_error_object(sock_dir, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_SOCKET", f"{sock_dir}/absent.sock")  # the settings' default socket
    assert cli.main(["health", "--timeout", "1"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is False and "not reachable" in answer["error"]["message"]


def test_a_malformed_setting_is_reported_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_RELOAD_SECONDS", "often")
    assert cli.main(["health"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["error"]["message"] == "setting IMAGESEARCH_RELOAD_SECONDS='often' is not a number"


def test_the_imagesearch_cli_registers_the_daemon_commands():
    parser = cli.build_parser()
    assert parser.parse_args(["serve", "--socket", "/tmp/x.sock"]).func is daemon_commands.run_serve
    args = parser.parse_args(["health"])
    assert args.func is daemon_commands.run_control and args.daemon_op == "health"


def _serve(tmp_path, sock_dir):
    """`imagesearch serve` as its own process over an empty index root (it serves no_index)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGESEARCH_", "AWS_"))}
    env.update(IMAGESEARCH_INDEX=str(tmp_path / "index"), IMAGESEARCH_SOCKET=f"{sock_dir}/serve.sock",
               IMAGESEARCH_CACHE_DIR=str(tmp_path / "cache"), IMAGESEARCH_RELOAD_SECONDS="3600",
               IMAGESEARCH_ENV_FILE="/nonexistent", AWS_DEFAULT_REGION="us-east-1")
    (tmp_path / "index").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "imagesearch.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, env["IMAGESEARCH_SOCKET"]


def _health(path: str, timeout: float = 180.0) -> dict:
    import time

    from imagesearch.agent.client import DaemonUnavailable, ask_daemon
    from imagesearch.agent.protocol import Request

    deadline = time.monotonic() + timeout
    while True:
        try:
            return ask_daemon(path, Request("health"), timeout=2.0)
        except DaemonUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_sighup_reloads_the_index_and_the_daemon_keeps_serving(tmp_path, sock_dir):
    import signal
    import time

    # GIVEN `imagesearch serve` answering health
    proc, path = _serve(tmp_path, sock_dir)
    try:
        assert proc.poll() is None
        before = _health(path)
        assert before["ok"] and before["pid"] == proc.pid
        # WHEN it receives SIGHUP (a closed terminal, a `systemctl reload`, a stray kill -HUP)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        # (no index is published, so each reload is a refusal with its own time)
        while _health(path)["refused"]["at"] == before["refused"]["at"]:
            assert proc.poll() is None, "the daemon died on SIGHUP"
            assert time.monotonic() < deadline, "no reload after SIGHUP"
            time.sleep(0.1)
        # THEN it is still the same process, still answering, and it has re-read the pointer
        assert proc.poll() is None and _health(path)["pid"] == proc.pid
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0 and '"event": "sighup"' in output, output[-2000:]
