"""Run one aws:runShellScript step as the SSM agent does: a script file run by /bin/sh.

The step's command lines are the script's only text, each `{{ name }}` reference replaced by
`$SSM_name` as the agent does with ENV_VAR; parameter values arrive as `SSM_<name>` environment
variables. The script runs in its own session, so a timeout or a cancel stops it and
everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.ssm_document import Step, env_var_interpolation

# How often a running script is checked for a cancel or its timeout.
_CHECK_S = 0.05


@dataclass(frozen=True)
class StepResult:
    """How the step ended, as GetCommandInvocation reports it."""

    status: str  # Success, Failed, TimedOut or Cancelled
    details: str
    response_code: int
    stdout: str = ""
    stderr: str = ""


def script_environment(base: Mapping[str, str] | None, values: Mapping[str, str]) -> dict[str, str]:
    """The script's environment: `base` (None: this process's), the venv's bin first on PATH, SSM_*."""
    env = dict(os.environ if base is None else base)
    # The thin client is a console script of this venv, as it is on the instance's PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH") or os.defpath])
    for name, value in values.items():
        env[f"SSM_{name}"] = value
    return env


def run_step(step: Step, env: Mapping[str, str], cancel: threading.Event, *, workdir: Path | None = None,
             on_start: Callable[[], None] = lambda: None) -> StepResult:
    """Run the step to its end, its timeout or a cancel; `on_start` is called as the script starts."""
    if cancel.is_set():
        return StepResult("Cancelled", "Cancelled", -1)
    with tempfile.TemporaryDirectory(prefix="ssm-", dir=workdir) as tmp:
        script = Path(tmp) / "_script.sh"
        script.write_text("\n".join(env_var_interpolation(c) for c in step.commands) + "\n")
        on_start()
        try:
            proc = subprocess.Popen(
                ["/bin/sh", str(script)], cwd=tmp, env=dict(env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as e:
            return StepResult("Failed", "Failed", 1, stderr=f"failed to run shell script: {e}")
        deadline = time.monotonic() + step.timeout_s
        outcome = None
        while True:
            try:
                out, err = proc.communicate(timeout=_CHECK_S)
                break
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    outcome = ("Cancelled", "Cancelled")
                elif time.monotonic() > deadline:
                    outcome = ("TimedOut", "ExecutionTimedOut")
                if outcome:
                    _kill_group(proc)
                    out, err = proc.communicate()
                    break
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if outcome:
        return StepResult(outcome[0], outcome[1], -1, stdout, stderr)
    if proc.returncode == 0:
        return StepResult("Success", "Success", 0, stdout, stderr)
    return StepResult("Failed", "Failed", proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the script and everything it started (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended by itself between the poll and the signal
