"""The local stack's daemon supervisor does what the instance's systemd unit does."""

from __future__ import annotations

import signal
import sys
import time

from devstack.daemon_proc import DaemonProcess

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_daemon_ended_by_a_signal_is_reaped_restarted_and_logged(tmp_path):
    # GIVEN a supervised daemon process
    said: list[str] = []
    daemon = DaemonProcess({}, str(tmp_path / "d.sock"), tmp_path / "daemon.log", command=SLEEPER)
    daemon.restart_seconds = 0.05
    # started from a shell that ignores SIGHUP (nohup): exec keeps an ignored signal, systemd does not
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        daemon.start()
    finally:
        signal.signal(signal.SIGHUP, previous)
    first = daemon.proc
    daemon.supervise(said.append, poll_s=0.02)
    try:
        # WHEN something ends it (SIGHUP used to kill the real daemon and leave it down)
        first.send_signal(signal.SIGHUP)
        _wait(lambda: daemon.restarts == 1 and daemon.proc is not first)
        # THEN the old process is reaped, a new one runs, and the stack's log says so
        assert first.returncode == -signal.SIGHUP
        assert daemon.proc.poll() is None
        assert any(f"pid {first.pid}) exited with code -1" in line for line in said), said
        assert "restarting" in daemon.log_path.read_text()
    finally:
        daemon.stop()
    assert daemon.proc.poll() is not None


def test_a_crash_loop_is_given_up_after_the_start_limit(tmp_path):
    said: list[str] = []
    daemon = DaemonProcess({}, str(tmp_path / "d.sock"), tmp_path / "daemon.log",
                           command=[sys.executable, "-c", "raise SystemExit(3)"])
    daemon.restart_seconds, daemon.start_limit_burst = 0.01, 3
    daemon.start()
    watcher = daemon.supervise(said.append, poll_s=0.02)
    watcher.join(60)
    daemon.stop()
    assert not watcher.is_alive() and daemon.restarts == 3
    assert "giving up" in said[-1]
