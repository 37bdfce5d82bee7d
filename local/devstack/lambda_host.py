"""Run a function's own handler the way Lambda does: each execution environment its own process.

The function's code folder, layers, handler, timeout, memory and runtime come from template.yaml
(`FunctionCode`). Each "container" is a child process (devstack.lambda_worker) on the template's
runtime interpreter where this machine has one (the repository's `.venv-runtime`, python3.12),
else on this interpreter with a log line saying so. A container imports the handler once (its
init phase) with the function's environment and its code and layers on its path, then serves one
invocation at a time, as a Lambda execution environment does. Containers start lazily: an
invocation takes an idle one, else starts a new one (a cold start) while fewer than the cap
exist, else waits for one to be free, as under a concurrency limit. The template's `Timeout` is
enforced: past it the container's process group is killed and the caller gets Lambda's timeout
error (`FunctionError`, payload `{"errorType": "Sandbox.Timedout", "errorMessage": "RequestId:
... Error: Task timed out after N.00 seconds"}`); the next invocation starts a fresh container.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from publish.template import function_layer_dirs, function_property

log = logging.getLogger("devstack.lambda")

# Lambda's own defaults when a template names no Timeout / MemorySize / Runtime.
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_RUNTIME = "python3.12"
# Lambda gives a function's init phase 10 s, and when that runs out retries the init inside the
# first invocation under the function's timeout: a container may take both to get ready.
INIT_LIMIT_S = 10.0
WORKER = Path(__file__).resolve().with_name("lambda_worker.py")
# The virtual environment of the template's runtime that the Makefile builds (functions' deps).
RUNTIME_VENV = ".venv-runtime"


@dataclass(frozen=True)
class FunctionCode:
    """Where a function's code is and how Lambda calls it, as the template says."""

    code_dir: Path
    layer_dirs: tuple[Path, ...]
    handler: str  # "module.function"
    timeout_ms: int
    name: str = "local-function"
    memory_mb: int = DEFAULT_MEMORY_MB
    runtime: str = DEFAULT_RUNTIME

    @classmethod
    def from_template(cls, template: dict, function_id: str, root: Path, *,
                      name: str | None = None) -> FunctionCode:
        """CodeUri, the layers' ContentUri (on the path, as /opt/python is), Handler, Timeout, MemorySize
        and Runtime (a function's own value, else Globals.Function's, as SAM applies them; a `!Ref`
        to a parameter is that parameter's Default)."""
        def prop(key: str, default: object = None) -> object:
            value = function_property(template, function_id, key, default)
            if isinstance(value, dict) and set(value) == {"Ref"}:
                # A template parameter (e.g. FeaturizeMemorySize): its Default, as a deploy without overrides.
                value = ((template.get("Parameters") or {}).get(value["Ref"]) or {}).get("Default", default)
            return value

        return cls(code_dir=(root / str(prop("CodeUri"))).resolve(),
                   layer_dirs=tuple((root / d).resolve() for d in function_layer_dirs(template, function_id)),
                   handler=str(prop("Handler")),
                   timeout_ms=int(str(prop("Timeout", DEFAULT_TIMEOUT_S))) * 1000,
                   name=name or function_id, memory_mb=int(str(prop("MemorySize", DEFAULT_MEMORY_MB))),
                   runtime=str(prop("Runtime", DEFAULT_RUNTIME)))


class FunctionError(Exception):
    """The invocation failed as Lambda reports it: `payload` is the Invoke API's error document
    (`errorType`, `errorMessage`); the handler's own exception, a timeout, or a crashed runtime."""

    def __init__(self, payload: dict) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload

    @property
    def timed_out(self) -> bool:
        """Whether the handler ran past the function's Timeout."""
        return self.payload.get("errorType") == "Sandbox.Timedout"


def _version_of(python: Path | str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def runtime_python(runtime: str, repo: Path) -> str:
    """The interpreter for the template's runtime: the repository's runtime venv when it exists and
    is that version, else this interpreter (logged: the functions then run on another version)."""
    wanted = runtime.removeprefix("python")
    candidate = repo / RUNTIME_VENV / "bin" / "python"
    if candidate.exists():
        version = _version_of(candidate)
        if version is not None and ".".join(map(str, version)) == wanted:
            return str(candidate)
    log.warning("no %s environment at %s (make %s/.installed builds it where python%s exists): "
                "the functions run on this interpreter, Python %d.%d", runtime, candidate.parent.parent,
                RUNTIME_VENV, wanted, *sys.version_info[:2])
    return sys.executable


def timeout_error(request_id: str, timeout_s: float) -> dict:
    """Lambda's answer for an invocation killed at its timeout."""
    return {"errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"}


def _exit_error(request_id: str, code: int | None) -> dict:
    """Lambda's answer when the runtime process dies during an invocation."""
    how = f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}" if code and code < 0 \
        else f"exit status {code}"
    return {"errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}"}


class _Container:
    """One execution environment: a worker process and the answers it writes, line by line."""

    def __init__(self, python: str, code: FunctionCode, env: dict[str, str]) -> None:
        # Its own session: a timeout kills whatever the handler started as well.
        self.proc = subprocess.Popen(
            [python, str(WORKER), code.handler, str(code.code_dir), *map(str, code.layer_dirs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(code.code_dir),
            start_new_session=True)
        self._buffer = b""
        self.pid = self.proc.pid
        self.python: tuple[int, ...] = ()

    def read(self, deadline: float) -> dict | None:
        """The next answer line, or None when the deadline passes or the process ends first."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def send(self, message: dict) -> bool:
        """Write one invocation; False when the process is gone."""
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        """End the process and everything it started."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close()

    def close(self) -> None:
        """Close stdin (the worker then exits) and reap the process."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc.stdout.close()


class LambdaHost:
    """The function's containers: one invocation per container at a time, started lazily up to a cap."""

    def __init__(self, code: FunctionCode, environment: dict[str, str], *, python: str | None = None,
                 max_containers: int = 4, base_env: dict[str, str] | None = None) -> None:
        self._code = code
        self._python = python or sys.executable
        self._max = max_containers
        self._env = {**self._lambda_env(base_env), **environment}
        self._idle: list[_Container] = []
        self._count = 0
        self._free = threading.Condition()
        self._closed = False
        self.cold_starts = 0

    def _lambda_env(self, base: dict[str, str] | None) -> dict[str, str]:
        """What the Lambda runtime sets (reserved variables), under the function's own Environment."""
        code = self._code
        env = dict(base) if base is not None else {"PATH": os.environ.get("PATH", os.defpath),
                                                   "LANG": "en_US.UTF-8"}
        env.update({
            "TZ": ":UTC", "PYTHONUNBUFFERED": "1", "LAMBDA_TASK_ROOT": str(code.code_dir),
            "_HANDLER": code.handler, "AWS_EXECUTION_ENV": f"AWS_Lambda_{code.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": code.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(code.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{code.name}", "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        })
        return env

    @property
    def containers(self) -> int:
        """How many containers are alive (idle or busy)."""
        with self._free:
            return self._count

    def _take(self) -> _Container | None:
        """An idle container, else None with a slot reserved for a new one; waits when all are busy."""
        with self._free:
            while True:
                if self._closed:
                    raise RuntimeError("the Lambda host is closed")
                if self._idle:
                    return self._idle.pop()  # the most recently used: warm, as Lambda prefers
                if self._count < self._max:
                    self._count += 1
                    return None
                self._free.wait()

    def _give_back(self, container: _Container | None) -> None:
        with self._free:
            if container is None:
                self._count -= 1
            elif self._closed:
                container.close()
                self._count -= 1
            else:
                self._idle.append(container)
            self._free.notify()

    def _start(self, request_id: str) -> _Container:
        """A cold start: the process imports the handler (init) and reports it is ready."""
        container = _Container(self._python, self._code, self._env)
        with self._free:
            self.cold_starts += 1
        limit = INIT_LIMIT_S + self._code.timeout_ms / 1000.0
        hello = container.read(time.monotonic() + limit)
        if hello is None or "ready" not in hello:
            container.kill()
            if hello is None:
                code = container.proc.returncode
                raise FunctionError(timeout_error(request_id, limit) if code == -signal.SIGKILL
                                    else _exit_error(request_id, code))
            raise FunctionError(hello["init_error"])
        container.python = tuple(hello["python"])
        log.info("%s: cold start of a container (pid %d, Python %s)", self._code.name, container.pid,
                 ".".join(map(str, container.python)))
        return container

    def invoke(self, event: dict) -> dict:
        """Hand the event to the handler in a free container and return its answer; FunctionError
        when it raises, runs past the Timeout or its runtime dies."""
        # An HTTP API event carries its request id; an SQS batch gets a fresh one, as on Lambda.
        request_id = (event.get("requestContext") or {}).get("requestId") or str(uuid.uuid4())
        container = self._take()
        try:
            if container is None:
                container = self._start(request_id)
            timeout_s = self._code.timeout_ms / 1000.0
            deadline = time.monotonic() + timeout_s
            sent = container.send({"event": event, "request_id": request_id,
                                   "deadline_ms": int(time.time() * 1000 + self._code.timeout_ms)})
            answer = container.read(deadline) if sent else None
            if answer is None:
                timed_out = container.proc.poll() is None
                container.kill()
                payload = (timeout_error(request_id, timeout_s) if timed_out
                           else _exit_error(request_id, container.proc.returncode))
                container = None
                log.warning("%s: %s", self._code.name, payload["errorMessage"])
                raise FunctionError(payload)
            if "error" in answer:
                raise FunctionError({**answer["error"], "requestId": request_id})
            return answer["result"]
        finally:
            self._give_back(container)

    def close(self) -> None:
        """Stop every container (the idle ones now, the busy ones when their invocation ends)."""
        with self._free:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._free.notify_all()
        for container in idle:
            container.close()


def http_api_event(method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes,
                   *, source_ip: str = "127.0.0.1", route_key: str = "$default") -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as the matched route (`POST /search`) hands it on."""
    lowered = {name.lower(): value for name, value in headers.items()}
    now = datetime.now(UTC)
    text_body = None
    is_b64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_b64 = base64.b64encode(body).decode("ascii"), True
    query: dict[str, str] = {}
    for pair in filter(None, raw_query.split("&")):
        name, _, value = pair.partition("=")
        # HTTP API joins repeated query parameters with commas.
        query[name] = f"{query[name]},{value}" if name in query else value
    request_id = str(uuid.uuid4())
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": lowered.get("host", "localhost").split(".")[0],
            "http": {"method": method.upper(), "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": lowered.get("user-agent", "")},
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = query
    if text_body is not None:
        event["body"] = text_body
    return event


