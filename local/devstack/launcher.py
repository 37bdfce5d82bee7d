"""Run `python -m devstack` as a child process and wait until it is serving (for tests and benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class StackProcess:
    """A devstack child on a free port; `info` holds its addresses once started (a context manager)."""

    def __init__(self, *args: str, work_dir: Path, log_path: Path, timeout: float = 900.0,
                 env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.work_dir = Path(work_dir)
        self.log_path = Path(log_path)
        self.timeout = timeout
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self._ready = Path(tempfile.mkdtemp(prefix="devstack-ready-")) / "ready.json"

    def start(self) -> dict:
        """Launch and wait for the ready file; RuntimeError with the log tail if it exits first."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devstack", "--port", "0", "--work-dir", str(self.work_dir),
                 "--ready-file", str(self._ready), *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
            )
        deadline = time.monotonic() + self.timeout
        while not self._ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"devstack exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"devstack not ready after {self.timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)
        self.info = json.loads(self._ready.read_text())
        return self.info

    def log_tail(self, lines: int = 40) -> str:
        """The end of the child's output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean stop), then SIGKILL if needed; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._ready.unlink(missing_ok=True)
        self._ready.parent.rmdir()
        return self.proc.returncode

    def __enter__(self) -> StackProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
