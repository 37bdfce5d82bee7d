"""A local stand-in for boto3's SSM client: Run Command for one document, executed on this machine.

It answers `send_command`, `get_command_invocation` and `cancel_command` with the response shapes
of boto3's SSM client and raises `botocore.exceptions.ClientError` with the codes the real service
uses. The document and its parameter checks are devstack.ssm_document's; each invocation runs in
a background thread through devstack.shell_step, its values only in `SSM_<name>` variables.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devstack.shell_step import StepResult, run_step, script_environment
from devstack.ssm_document import Document, ssm_error

# Limits of GetCommandInvocation's inline output (longer output is cut, as SSM does).
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
_PENDING, _IN_PROGRESS = "Pending", "InProgress"


def _stamp(moment: datetime | None) -> str:
    # GetCommandInvocation returns its date-times as ISO strings, not datetime objects.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else ""


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
                 visible_after_s: float = 0.0, workdir: Path | None = None,
                 instance_state: Callable[[str], str] | None = None) -> None:
        self.document = document
        self.instance_ids = set(instance_ids)
        # The instance's EC2 state (e.g. read from the local EC2): SSM delivers only to a running
        # instance, a stopped one's invocation ends Undeliverable. None: always running.
        self._instance_state = instance_state
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
            raise ssm_error("InvalidDocument", f"document {DocumentName} does not exist", op)
        if not InstanceIds:
            raise ssm_error("ValidationException", "InstanceIds or Targets must be given", op)
        unknown = [i for i in InstanceIds if i not in self.instance_ids]
        if unknown:
            raise ssm_error("InvalidInstanceId", f"instances {unknown} are not managed by this runner", op)
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
            raise ssm_error("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist)",
                         "GetCommandInvocation")
        if PluginName is not None and PluginName != self.document.step.name:
            raise ssm_error("InvalidPluginName", f"no plugin {PluginName}", "GetCommandInvocation")
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
            raise ssm_error("InvalidCommandId", f"command {CommandId} does not exist", "CancelCommand")
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

    def _run(self, inv: _Invocation) -> None:
        state = self._instance_state(inv.instance_id) if self._instance_state else "running"
        if state != "running":
            # As on AWS: the agent of a stopped instance never picks the command up; nothing runs.
            self._finish(inv, StepResult(status="Undeliverable", details="Undeliverable", response_code=-1,
                                         stdout="", stderr=""))
            return

        def started() -> None:
            with self._lock:
                inv.status = inv.details = _IN_PROGRESS
                inv.started = datetime.now(UTC)

        env = script_environment(self._env, inv.parameters)
        result = run_step(self.document.step, env, inv.cancel, workdir=self._workdir, on_start=started)
        self._finish(inv, result)

    def _finish(self, inv: _Invocation, result: StepResult) -> None:
        with self._lock:
            inv.status, inv.details, inv.response_code = result.status, result.details, result.response_code
            inv.stdout, inv.stderr = result.stdout, result.stderr
            inv.ended = datetime.now(UTC)


def _elapsed(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    total = delta.total_seconds()
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"PT{int(hours)}H{int(minutes)}M{seconds:.3f}S" if hours else f"PT{seconds + 60 * minutes:.3f}S"


def from_template(template: dict, document_name: str, instance_ids: list[str], **kwargs) -> LocalSSM:
    """A runner for the template's SearchDocument, addressed by its deployed document name."""
    from publish.template import search_document  # the template's one reader

    return LocalSSM(Document.from_content(document_name, search_document(template)), instance_ids, **kwargs)
