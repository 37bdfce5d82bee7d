"""`imagesearch health|reload|serve`: wired into the CLI, answering through the daemon's socket."""

from __future__ import annotations

import json

from imagesearch import cli, daemon_commands


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
