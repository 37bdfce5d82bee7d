"""Run the real warm daemon (`imagesearch serve`, through devstack's DaemonProcess) and talk to it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.daemon_proc import DaemonProcess
from devstack.s3server import DUMMY_CREDENTIALS
from imagesearch.agent.client import ask_daemon
from imagesearch.agent.protocol import search_request


def console_script(name: str) -> str:
    """The path of one of our console scripts, next to this interpreter first."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"console script {name!r} is not installed (pip install -e .)")
    return found


def agent_env(endpoint: str, index_root: Path, cache_dir: Path, socket_path: Path) -> dict[str, str]:
    """The agent's environment: local S3 endpoint, dummy credentials, the index, our cache and socket."""
    env = dict(os.environ)
    env.update(DUMMY_CREDENTIALS)
    env.update({"AWS_ENDPOINT_URL": endpoint, "IMAGESEARCH_INDEX": str(index_root),
                "IMAGESEARCH_CACHE_DIR": str(cache_dir),
                "IMAGESEARCH_COLD_CACHE_DIR": str(cache_dir / "cold"),
                "IMAGESEARCH_SOCKET": str(socket_path), "IMAGESEARCH_ENV_FILE": str(cache_dir / "absent.env"),
                "IMAGESEARCH_RELOAD_SECONDS": "3600"})  # no pointer polls during measurements
    return env


@contextmanager
def running_daemon(env: dict[str, str], log_path: Path, timeout_s: float = 600.0,
                   command: list[str] | None = None) -> Iterator[DaemonProcess]:
    """The daemon serving env's IMAGESEARCH_INDEX for the duration of the block, stopped after.

    `command` runs it another way (e.g. under the instance's interpreter); default `imagesearch serve`.
    """
    daemon = DaemonProcess(env, env["IMAGESEARCH_SOCKET"], log_path, command=command)
    daemon.start()
    try:
        health = daemon.wait_healthy(timeout_s)
        if health.get("status") != "serving":
            raise RuntimeError(f"daemon is up but not serving an index ({health.get('status')}):\n"
                               f"{daemon.log_tail()}")
        yield daemon
    finally:
        daemon.stop()


def search(socket_path: Path, bucket: str, key: str, k: int) -> dict:
    """One search through the daemon protocol; raises when the daemon answers an error."""
    answer = ask_daemon(str(socket_path), search_request(bucket, key, k), timeout=60.0)
    if not answer.get("ok"):
        raise RuntimeError(f"daemon answered an error for {key}: {answer.get('error')}")
    return answer
