"""A local stand-in for SSM Run Command that executes the SSM document's own command text.

It answers `send_command`, `get_command_invocation` and `cancel_command` with the response shapes
of boto3's SSM client and raises `botocore.exceptions.ClientError` with the codes the real service
uses. As on the instance (interpolationType ENV_VAR), parameter values reach the script only as
`SSM_<name>` environment variables: the command text names each parameter as `"{{ name }}"` and
the runner does what the agent does with it, replacing the reference by `$SSM_name` and setting
SSM_name, then runs the result with sh as aws:runShellScript does. No value is ever command text.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError

# Limits of GetCommandInvocation's inline output (longer output is cut, as SSM does).
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
# aws:runShellScript's default execution timeout when the document names none.
DEFAULT_EXECUTION_TIMEOUT_S = 3600
_PARAM_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
# A reference this project writes: alone inside double quotes, so the shell reads the variable as
# one word whatever its value (no splitting, no globbing).
_QUOTED_REF = re.compile(r'"\{\{\s*[A-Za-z0-9_]+\s*\}\}"')
_PENDING, _IN_PROGRESS = "Pending", "InProgress"


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def _stamp(moment: datetime | None) -> str:
    # GetCommandInvocation returns its date-times as ISO strings, not datetime objects.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else ""


def env_var_interpolation(line: str) -> str:
    """A command line as the SSM agent runs it with ENV_VAR: each {{ name }} becomes $SSM_name."""
    return _PARAM_REF.sub(lambda ref: f"$SSM_{ref[1]}", line)


class DocumentError(ValueError):
    """The SSM document cannot be run locally the way it would run on the instance."""


@dataclass(frozen=True)
class Step:
    """One aws:runShellScript step: its name, command lines and execution timeout."""

    name: str
    commands: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True)
class Document:
    """The parts of a schemaVersion 2.2 command document the runner needs."""

    name: str
    parameters: dict[str, dict]
    step: Step

    @classmethod
    def from_content(cls, name: str, content: dict) -> Document:
        """Check the document content is what the instance would run (ENV_VAR, one shell step)."""
        if str(content.get("schemaVersion")) != "2.2":
            raise DocumentError(f"{name}: schemaVersion must be 2.2, got {content.get('schemaVersion')!r}")
        parameters = content.get("parameters") or {}
        for pname, spec in parameters.items():
            if spec.get("interpolationType") != "ENV_VAR":
                raise DocumentError(f"{name}: parameter {pname!r} must use interpolationType ENV_VAR")
            if spec.get("type", "String") != "String":
                raise DocumentError(f"{name}: parameter {pname!r} must be a String")
        steps = content.get("mainSteps") or []
        if len(steps) != 1 or steps[0].get("action") != "aws:runShellScript":
            raise DocumentError(f"{name}: expected exactly one aws:runShellScript step")
        inputs = steps[0].get("inputs") or {}
        commands = inputs.get("runCommand")
        if isinstance(commands, str):
            commands = [commands]
        if not commands or not all(isinstance(c, str) for c in commands):
            raise DocumentError(f"{name}: runCommand must be a list of strings")
        for line in commands:
            for ref in _PARAM_REF.finditer(line):
                if ref[1] not in parameters:
                    raise DocumentError(f"{name}: runCommand references an unknown parameter: {ref[0]!r}")
            if _PARAM_REF.search(_QUOTED_REF.sub("", line)):
                raise DocumentError(f"{name}: a parameter reference must stand alone in double quotes, "
                                    f'"{{{{ name }}}}": {line!r}')
        timeout = float(inputs.get("timeoutSeconds", DEFAULT_EXECUTION_TIMEOUT_S))
        step = Step(name=str(steps[0].get("name", "run")), commands=tuple(commands), timeout_s=timeout)
        return cls(name=name, parameters=dict(parameters), step=step)

    def validate(self, given: dict) -> dict[str, str]:
        """The parameter values to run with (defaults filled in); InvalidParameters like SSM."""
        op = "SendCommand"
        if not isinstance(given, dict):
            raise _error("InvalidParameters", "Parameters must be a map of lists of strings", op)
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise _error("InvalidParameters", f"document {self.name} does not support parameters {unknown}",
                         op)
        values: dict[str, str] = {}
        for pname, spec in self.parameters.items():
            if pname in given:
                raw = given[pname]
                if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], str):
                    raise _error("InvalidParameters", f"parameter {pname!r} must be a list of one string", op)
                value = raw[0]
            elif "default" in spec:
                value = str(spec["default"])
            else:
                raise _error("InvalidParameters", f"required parameter {pname!r} is missing", op)
            pattern = spec.get("allowedPattern")
            # fullmatch, so a trailing newline cannot slip past a `$` the way re.search would allow.
            if pattern is not None and not re.fullmatch(pattern, value):
                raise _error("InvalidParameters",
                             f"parameter {pname!r} value does not match allowedPattern {pattern}", op)
            allowed = spec.get("allowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise _error("InvalidParameters", f"parameter {pname!r} is not one of {allowed}", op)
            values[pname] = value
        return values


@dataclass
class _Invocation:
    command_id: str
    instance_id: str
    document: str
    parameters: dict[str, str]
    requested: datetime
    comment: str
    status: str = _PENDING
    details: str = _PENDING
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    visible_at: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)


class LocalSSM:
    """SSM Run Command for one document, executed on this machine in a background thread each."""

    def __init__(self, document: Document, instance_ids: list[str], *, env: dict[str, str] | None = None,
                 visible_after_s: float = 0.0, workdir: Path | None = None) -> None:
        self.document = document
        self.instance_ids = set(instance_ids)
        # The script's whole environment, as the SSM agent's own environment is on the instance;
        # None inherits this process's environment.
        self._env = None if env is None else dict(env)
        # Real SSM registers the invocation a moment after SendCommand returns; a caller must treat
        # InvocationDoesNotExist as "not yet". A delay here lets that path be exercised locally.
        self._visible_after_s = visible_after_s
        self._workdir = Path(workdir) if workdir else None
        self._lock = threading.Lock()
        self._invocations: dict[tuple[str, str], _Invocation] = {}
        self._threads: list[threading.Thread] = []

    # -- boto3's SSM client surface -------------------------------------------------------------

    def send_command(self, *, DocumentName: str, InstanceIds: list[str] | None = None,  # noqa: N803
                     Parameters: dict | None = None, Comment: str = "", TimeoutSeconds: int | None = None,
                     **_ignored) -> dict:
        """Validate like SSM, start the document on each instance and return {"Command": {...}}."""
        op = "SendCommand"
        if DocumentName != self.document.name:
            raise _error("InvalidDocument", f"document {DocumentName} does not exist", op)
        if not InstanceIds:
            raise _error("ValidationException", "InstanceIds or Targets must be given", op)
        unknown = [i for i in InstanceIds if i not in self.instance_ids]
        if unknown:
            raise _error("InvalidInstanceId", f"instances {unknown} are not managed by this runner", op)
        values = self.document.validate(Parameters or {})
        command_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        for instance_id in InstanceIds:
            inv = _Invocation(command_id=command_id, instance_id=instance_id, document=DocumentName,
                              parameters=values, requested=now, comment=Comment,
                              visible_at=time.monotonic() + self._visible_after_s)
            with self._lock:
                self._invocations[(command_id, instance_id)] = inv
            thread = threading.Thread(target=self._run, args=(inv,), name=f"ssm-{command_id[:8]}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        return {"Command": {
            "CommandId": command_id, "DocumentName": DocumentName, "DocumentVersion": "$DEFAULT",
            "Comment": Comment, "ExpiresAfter": now + timedelta(seconds=TimeoutSeconds or 3600),
            "Parameters": {k: [v] for k, v in values.items()}, "InstanceIds": list(InstanceIds),
            "Targets": [], "RequestedDateTime": now, "Status": _PENDING, "StatusDetails": _PENDING,
            "TargetCount": len(InstanceIds), "CompletedCount": 0, "ErrorCount": 0,
            "DeliveryTimedOutCount": 0, "TimeoutSeconds": TimeoutSeconds or 3600,
        }, "ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_command_invocation(self, *, CommandId: str, InstanceId: str, PluginName: str | None = None,  # noqa: N803
                               **_ignored) -> dict:
        """The invocation's status and output; InvocationDoesNotExist when unknown or not yet visible."""
        with self._lock:
            inv = self._invocations.get((CommandId, InstanceId))
        if inv is None or time.monotonic() < inv.visible_at:
            raise _error("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist)",
                         "GetCommandInvocation")
        if PluginName is not None and PluginName != self.document.step.name:
            raise _error("InvalidPluginName", f"no plugin {PluginName}", "GetCommandInvocation")
        with self._lock:
            elapsed = ((inv.ended or datetime.now(UTC)) - inv.started) if inv.started else None
            return {
                "CommandId": inv.command_id, "InstanceId": inv.instance_id, "Comment": inv.comment,
                "DocumentName": inv.document, "DocumentVersion": "$DEFAULT",
                "PluginName": self.document.step.name, "ResponseCode": inv.response_code,
                "ExecutionStartDateTime": _stamp(inv.started),
                "ExecutionElapsedTime": _elapsed(elapsed), "ExecutionEndDateTime": _stamp(inv.ended),
                "Status": inv.status, "StatusDetails": inv.details,
                "StandardOutputContent": inv.stdout[:STDOUT_LIMIT], "StandardOutputUrl": "",
                "StandardErrorContent": inv.stderr[:STDERR_LIMIT], "StandardErrorUrl": "",
                "CloudWatchOutputConfig": {"CloudWatchOutputEnabled": False},
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }

    def cancel_command(self, *, CommandId: str, InstanceIds: list[str] | None = None, **_ignored) -> dict:  # noqa: N803
        """Ask the command's running invocations to stop; InvalidCommandId when it is unknown."""
        with self._lock:
            targets = [inv for (cid, iid), inv in self._invocations.items()
                       if cid == CommandId and (not InstanceIds or iid in InstanceIds)]
        if not targets:
            raise _error("InvalidCommandId", f"command {CommandId} does not exist", "CancelCommand")
        for inv in targets:
            inv.cancel.set()
            with self._lock:
                if inv.status in (_PENDING, _IN_PROGRESS):
                    inv.status = inv.details = "Cancelling"
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    # -- local housekeeping -----------------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Join every invocation thread (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Cancel what is still running and wait for it."""
        with self._lock:
            running = [inv for inv in self._invocations.values() if inv.ended is None]
        for inv in running:
            inv.cancel.set()
        self.wait_idle(10.0)

    def _environment(self, values: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ if self._env is None else self._env)
        # The thin client is a console script of this venv, as it is on the instance's PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH") or os.defpath])
        for name, value in values.items():
            env[f"SSM_{name}"] = value
        return env

    def _finish(self, inv: _Invocation, status: str, details: str, code: int) -> None:
        with self._lock:
            inv.status, inv.details, inv.response_code = status, details, code
            inv.ended = datetime.now(UTC)

    def _run(self, inv: _Invocation) -> None:
        step = self.document.step
        if inv.cancel.is_set():
            return self._finish(inv, "Cancelled", "Cancelled", -1)
        with tempfile.TemporaryDirectory(prefix="ssm-", dir=self._workdir) as tmp:
            # The agent writes runCommand to a script file, references interpolated, and runs it
            # with sh; the document text is the only thing in it.
            script = Path(tmp) / "_script.sh"
            script.write_text("\n".join(env_var_interpolation(c) for c in step.commands) + "\n")
            with self._lock:
                inv.status = inv.details = _IN_PROGRESS
                inv.started = datetime.now(UTC)
            try:
                proc = subprocess.Popen(
                    ["/bin/sh", str(script)], cwd=tmp, env=self._environment(inv.parameters),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as e:
                with self._lock:
                    inv.stderr = f"failed to run shell script: {e}"
                return self._finish(inv, "Failed", "Failed", 1)
            deadline = time.monotonic() + step.timeout_s
            outcome = None
            while True:
                try:
                    out, err = proc.communicate(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    if inv.cancel.is_set():
                        outcome = ("Cancelled", "Cancelled")
                    elif time.monotonic() > deadline:
                        outcome = ("TimedOut", "ExecutionTimedOut")
                    if outcome:
                        _kill_group(proc)
                        out, err = proc.communicate()
                        break
            with self._lock:
                inv.stdout = out.decode("utf-8", "replace")
                inv.stderr = err.decode("utf-8", "replace")
            if outcome:
                return self._finish(inv, outcome[0], outcome[1], -1)
            code = proc.returncode
            if code == 0:
                return self._finish(inv, "Success", "Success", 0)
            return self._finish(inv, "Failed", "Failed", code)


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


def _elapsed(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    total = delta.total_seconds()
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"PT{int(hours)}H{int(minutes)}M{seconds:.3f}S" if hours else f"PT{seconds + 60 * minutes:.3f}S"


def from_template(template: dict, document_name: str, instance_ids: list[str], **kwargs) -> LocalSSM:
    """A runner for the template's SearchDocument, addressed by its deployed document name."""
    from publish.template import search_document  # the template engineer's reader, one source of truth

    return LocalSSM(Document.from_content(document_name, search_document(template)), instance_ids, **kwargs)
