"""Run a function's own handler in this process, the way Lambda would invoke it.

The function's code folder, layers, handler and timeout come from template.yaml (`FunctionCode`).
Each "container" is a separate import of the handler's module (its own resolver, clients and
state) and of Powertools' event handler package (which keeps the current event on a class), and
serves one invocation at a time, as a Lambda execution environment does; concurrent requests get
separate containers, all made before the first request, up to a cap. The function's sibling
modules, its layers and the stdlib logger behind Powertools' Logger are shared by all containers,
so the log lines of concurrent requests can carry each other's appended keys (request id, query
key).
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from publish.template import function_layer_dirs, function_property

# Lambda's own default when a template names no Timeout.
DEFAULT_TIMEOUT_S = 3
_container_ids = itertools.count(1)


@dataclass(frozen=True)
class FunctionCode:
    """Where a function's code is and how Lambda calls it, as the template says."""

    code_dir: Path
    layer_dirs: tuple[Path, ...]
    handler: str  # "module.function"
    timeout_ms: int

    @classmethod
    def from_template(cls, template: dict, function_id: str, root: Path) -> FunctionCode:
        """CodeUri, the layers' ContentUri (on sys.path, as /opt/python is), Handler and Timeout."""
        def prop(name: str, default: object = None) -> object:
            return function_property(template, function_id, name, default)

        return cls(code_dir=(root / str(prop("CodeUri"))).resolve(),
                   layer_dirs=tuple((root / d).resolve() for d in function_layer_dirs(template, function_id)),
                   handler=str(prop("Handler")),
                   timeout_ms=int(str(prop("Timeout", DEFAULT_TIMEOUT_S))) * 1000)


class LambdaContext:
    """The parts of Lambda's context object a Powertools handler reads."""

    function_name = "imagesearch-local-search"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:imagesearch-local-search"
    log_group_name = "/aws/lambda/imagesearch-local-search"
    log_stream_name = "local"

    def __init__(self, request_id: str, timeout_ms: int) -> None:
        self.aws_request_id = request_id
        self._ends_at = time.monotonic() + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until this invocation would be killed."""
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


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


# Powertools keeps the current event and context on a class (`BaseRouter.current_event`), shared by
# every resolver of a process; on Lambda a process serves one invocation at a time, here several
# containers share one process, so each imports its own copy of the event handler package.
ISOLATED_PACKAGE = "aws_lambda_powertools.event_handler"


@contextmanager
def _own_copy(package: str) -> Iterator[None]:
    """Imports inside the block load `package` afresh; the process's own copy is back after it."""
    def loaded() -> dict[str, ModuleType]:
        return {n: m for n, m in sys.modules.items() if n == package or n.startswith(package + ".")}

    parent_name, _, attr = package.rpartition(".")
    parent = sys.modules.get(parent_name)
    before_attr = getattr(parent, attr, None) if parent is not None else None
    saved = loaded()
    for n in saved:
        del sys.modules[n]
    try:
        yield
    finally:
        for n in loaded():  # this container's copies stay referenced by its module only
            del sys.modules[n]
        sys.modules.update(saved)
        parent = sys.modules.get(parent_name)
        if parent is not None and before_attr is not None:
            setattr(parent, attr, before_attr)


class LambdaHost:
    """Loads the function with its environment into `max_containers` containers and invokes its
    handler in a free one, one call per container at a time."""

    def __init__(self, code: FunctionCode, environment: dict[str, str],
                 prepare: Callable[[ModuleType], None], *, max_containers: int = 4) -> None:
        self._code = code
        self._env = dict(environment)
        self._prepare = prepare
        self._max = max_containers
        self._idle: queue.LifoQueue[ModuleType] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        # The function reads its settings (and Powertools its POWERTOOLS_* variables) at import time,
        # so the environment must be in place before the module runs; it imports its siblings and
        # its layers' packages by name.
        os.environ.update(self._env)
        for folder in (*reversed(self._code.layer_dirs), self._code.code_dir):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        module_name = self._code.handler.rpartition(".")[0]
        path = self._code.code_dir / (module_name.replace(".", "/") + ".py")
        name = f"_devstack_function_{next(_container_ids)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with _own_copy(ISOLATED_PACKAGE):
            spec.loader.exec_module(module)
        self._prepare(module)
        return module

    def warm(self) -> None:
        """Create every container now, before any request (and show import errors at start-up).

        A container's import swaps modules of the whole process (`_own_copy`), which must never
        happen while another thread runs a handler, so none is made once requests are served.
        """
        with self._lock:
            while self._made < self._max:
                self._idle.put(self._load())
                self._made += 1

    def _take(self) -> ModuleType:
        if not self._made:
            self.warm()
        return self._idle.get()  # all containers busy: wait for one, as Lambda's concurrency cap would

    def invoke(self, event: dict) -> dict:
        """Hand the event to lambda_handler in a free container and return its response."""
        container = self._take()
        handler = getattr(container, self._code.handler.rpartition(".")[2])
        try:
            # An HTTP API event carries its request id; an SQS batch gets a fresh one, as on Lambda.
            request_id = (event.get("requestContext") or {}).get("requestId") or str(uuid.uuid4())
            return handler(event, LambdaContext(request_id, self._code.timeout_ms))
        finally:
            self._idle.put(container)
