"""The search daemon (`imagesearch serve`) as a child process, and the wait for its health."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from imagesearch.agent.client import DaemonUnavailable, ask_daemon
from imagesearch.agent.protocol import Request
from imagesearch.errors import SearchError

_PR_SET_PDEATHSIG = 1


class DaemonError(RuntimeError):
    """The daemon did not start or did not become healthy; the message carries its log tail."""


# Loaded once here, in the parent: between fork and exec the child should only call what is ready
# (loading a library there can wait on a loader lock another thread held at fork time).
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _child_setup() -> None:
    # Runs in the child between fork and exec (Linux). SIGHUP back to its default action, as systemd
    # starts a service: under nohup it is ignored, exec keeps that, and the stack would then differ
    # from the instance. And the kernel sends SIGTERM to the daemon if this process dies, even by
    # SIGKILL, so a killed demo never leaves a daemon behind.
    if _libc is not None:
        _libc.signal(int(signal.SIGHUP), int(signal.SIG_DFL))
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _imagesearch_command() -> list[str]:
    script = Path(sys.executable).parent / "imagesearch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "imagesearch.cli"]


class DaemonProcess:
    """`imagesearch serve` with the given environment, its output in log_path."""

    # What the instance's systemd unit does (Restart=always, RestartSec, StartLimit*): bring the
    # daemon back whatever ended it, but give up on a crash loop.
    restart_seconds = 3.0
    start_limit_burst = 10
    start_limit_interval_s = 300.0

    def __init__(self, env: dict[str, str], socket_path: str, log_path: Path,
                 command: list[str] | None = None) -> None:
        self.env = env
        self.socket_path = socket_path
        self.log_path = Path(log_path)
        self.command = command or [*_imagesearch_command(), "serve"]
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        """Launch the daemon (it loads the model and index before it listens)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_child_setup if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )

    def wait_healthy(self, timeout: float = 300.0) -> dict:
        """Poll health until the daemon answers ok; DaemonError if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise DaemonError(f"the daemon exited with code {code}:\n{self.log_tail()}")
            if os.path.exists(self.socket_path):
                try:
                    answer = ask_daemon(self.socket_path, Request("health"), timeout=2.0)
                except (DaemonUnavailable, SearchError) as e:
                    last = f"{type(e).__name__}: {e}"
                else:
                    if answer.get("ok"):
                        return answer
                    last = str(answer.get("error"))
            time.sleep(0.2)
        raise DaemonError(f"the daemon was not healthy after {timeout:.0f} s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the daemon's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"

    def supervise(self, say: Callable[[str], None], poll_s: float = 0.2) -> threading.Thread:
        """Reap the daemon when it exits and start it again (as systemd does); says so in say()."""
        self._supervisor = threading.Thread(target=self._watch, args=(say, poll_s),
                                            name="devstack-daemon-supervisor", daemon=True)
        self._supervisor.start()
        return self._supervisor

    def _watch(self, say: Callable[[str], None], poll_s: float) -> None:
        starts: list[float] = []
        while not self._stopping.wait(poll_s):
            proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            code = proc.returncode  # poll() reaped it: no zombie is left behind
            now = time.monotonic()
            starts = [t for t in starts if now - t < self.start_limit_interval_s]
            if len(starts) >= self.start_limit_burst:
                self._note(say, f"daemon (pid {proc.pid}) exited with code {code}; restarted "
                                f"{len(starts)} times in {self.start_limit_interval_s:.0f} s, giving up")
                return
            self._note(say, f"daemon (pid {proc.pid}) exited with code {code}; restarting in "
                            f"{self.restart_seconds:g} s")
            if self._stopping.wait(self.restart_seconds):
                return
            starts.append(time.monotonic())
            self.start()
            self.restarts += 1
            self._note(say, f"daemon restarted (pid {self.proc.pid})")

    def _note(self, say: Callable[[str], None], message: str) -> None:
        say(message)
        with open(self.log_path, "a") as log:
            log.write(f"[devstack] {message}\n")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop supervising, then SIGTERM, wait, then SIGKILL if it does not go."""
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
