"""What machine and software produced the figures, so a reader can compare like with like."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess when it is absent)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall through to what the platform module knows
    return platform.processor() or "unknown"


def memory_gib(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """Total memory in GiB from /proc/meminfo, None when it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None
    return None


def package_version(name: str) -> str:
    """The installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(repo: Path) -> str:
    """The short commit of the working tree the bench ran from (with -dirty when edited)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe(repo: Path) -> dict[str, str]:
    """Cores, memory, CPU model, OS, Python and library versions, commit."""
    mem = memory_gib()
    return {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{mem:.1f} GiB" if mem is not None else "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "MXNet": package_version("mxnet"),
        "numpy": package_version("numpy"),
        "hnswlib": package_version("hnswlib"),
        "moto": package_version("moto"),
        "commit": git_commit(repo),
    }


def command_line(argv: list[str] | None = None) -> str:
    """The command that made the report, shell-quoted for copying."""
    args = sys.argv if argv is None else argv
    return " ".join(shlex.quote(a) for a in args)
