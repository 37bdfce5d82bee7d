"""The instance's Python environment, here: the locked wheels installed offline, the agent in place.

Memory is measured in what the instance runs, not in the dev venv, which carries packages the
instance never installs (onnx alone makes MXNet's import about 38 MiB larger). The install is
bootstrap.sh's (`--no-index --require-hashes` from the wheelhouse, a .pth entry for the agent) and
is redone only when the lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from publish.wheelhouse import AGENT_DIR, LOCK, WHEELHOUSE, locked_wheels

PYTHON = "python3.11"  # the instance's interpreter (AL2023's python3.11 package)


def instance_python(venv: Path) -> Path:
    """The interpreter of a venv holding exactly the instance's locked wheels and the agent package."""
    locked_wheels()  # a clear error naming `make wheelhouse` when a wheel is missing
    stamp = venv / ".lock.sha256"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if not (stamp.exists() and stamp.read_text() == want and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        interpreter = shutil.which(PYTHON) or sys.executable
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=300)
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        "--no-index", "--find-links", str(WHEELHOUSE), "--only-binary=:all:",
                        "--require-hashes", "-r", str(LOCK)], check=True, env=env, timeout=900)
        stamp.write_text(want)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-I", "-c", purelib], capture_output=True, text=True,
                          check=True).stdout.strip()
    Path(site, "imagesearch-agent.pth").write_text(f"{AGENT_DIR}\n")
    return python
