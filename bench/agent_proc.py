"""Run the real warm daemon (`imagesearch serve`) as a child process and talk to it over its socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.s3server import DUMMY_CREDENTIALS
from imagesearch.client import DaemonUnavailable, ask_daemon
from imagesearch.errors import SearchError
from imagesearch.protocol import Request, search_request


def console_script(name: str) -> str:
    """The path of one of our console scripts, next to this interpreter first."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"console script {name!r} is not installed (pip install -e .)")
    return found


def agent_env(endpoint: str, cache_dir: Path, socket_path: Path) -> dict[str, str]:
    """The environment of the agent's processes: local S3 endpoint, dummy credentials, our socket."""
    env = dict(os.environ)
    env.update(DUMMY_CREDENTIALS)
    env.update({"AWS_ENDPOINT_URL": endpoint, "IMAGESEARCH_CACHE_DIR": str(cache_dir),
                "IMAGESEARCH_COLD_CACHE_DIR": str(cache_dir / "cold"), "IMAGESEARCH_SOCKET": str(socket_path),
                "IMAGESEARCH_ENV_FILE": str(cache_dir / "absent.env"),
                "IMAGESEARCH_RELOAD_SECONDS": "3600"})  # no pointer polls during measurements
    return env


def wait_serving(socket_path: Path, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> dict:
    """Poll the daemon's health op until it serves an index; fail (with its log's tail) if it dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"daemon exited with {proc.returncode} before serving: {tail}")
        if socket_path.exists():
            try:
                health = ask_daemon(str(socket_path), Request("health"), timeout=5.0)
                if health.get("status") == "serving":
                    return health
            except (OSError, SearchError, DaemonUnavailable):
                pass  # still starting: the socket exists before the index is loaded
        time.sleep(0.2)
    raise TimeoutError(f"daemon not serving after {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Terminate our own child by its pid, then kill it if it does not exit."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_daemon(index_root: Path, env: dict[str, str], log_path: Path, timeout_s: float) -> subprocess.Popen:
    """Start `imagesearch serve` on the index and return its process once it serves."""
    socket_path = Path(env["IMAGESEARCH_SOCKET"])
    with log_path.open("ab") as log:
        proc = subprocess.Popen([console_script("imagesearch"), "serve", "--index", str(index_root),
                                 "--socket", str(socket_path)], env=env, stdout=log, stderr=log)
    try:
        wait_serving(socket_path, proc, timeout_s, log_path)
    except BaseException:
        stop(proc)
        raise
    return proc


@contextmanager
def running_daemon(index_root: Path, env: dict[str, str], log_path: Path,
                   timeout_s: float = 600.0) -> Iterator[subprocess.Popen]:
    """The daemon serving the index for the duration of the block, stopped after."""
    proc = start_daemon(index_root, env, log_path, timeout_s)
    try:
        yield proc
    finally:
        stop(proc)


def search(socket_path: Path, bucket: str, key: str, k: int, mode: str | None = None) -> dict:
    """One search through the daemon protocol; raises when the daemon answers an error."""
    answer = ask_daemon(str(socket_path), search_request(bucket, key, k, mode), timeout=60.0)
    if not answer.get("ok"):
        raise RuntimeError(f"daemon answered an error for {key}: {answer.get('error')}")
    return answer


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(peak resident set VmHWM, current VmRSS) of a live process, in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) / 1024.0
    return fields["VmHWM"], fields["VmRSS"]
