"""One local Lambda "container": a process that imports the handler once and serves invocations one at a time.

Started by devstack.lambda_host on the function's runtime interpreter (which has neither this
project nor its dev tools installed), so it uses the standard library only. Invocations arrive as
JSON lines on stdin (`{"event", "request_id", "deadline_ms"}`); each answer is one JSON line on the
process's original stdout (`{"result": ...}` or `{"error": {"errorMessage", "errorType",
"stackTrace"}}`), the first line reporting the import (init) phase. Whatever the handler prints or
logs goes to stderr, as a Lambda's output goes to its log stream, so it can never corrupt an answer.

    python lambda_worker.py HANDLER CODE_DIR [LAYER_DIR ...]
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


class LambdaContext:
    """The parts of Lambda's context object a Powertools handler reads."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.aws_request_id = request_id
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline_ms = deadline_ms  # wall-clock epoch milliseconds, as the runtime API gives it

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the host kills this invocation."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict:
    # The shape the Python runtime reports for an unhandled exception.
    return {"errorMessage": str(exc), "errorType": error_type or type(exc).__name__, "requestId": "",
            "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__))}


def main(argv: list[str]) -> int:
    """Import the handler, then answer invocations until stdin closes."""
    handler_name, code_dir, *layer_dirs = argv
    # Answers go to the original stdout; fd 1 becomes stderr for everything the function writes.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # As on Lambda: the function's code first (/var/task), then its layers (/opt/python).
    sys.path[:0] = [code_dir, *layer_dirs]
    os.chdir(code_dir)

    def answer(payload: dict) -> None:
        answers.write(json.dumps(payload) + "\n")
        answers.flush()

    module_name, _, function_name = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as e:  # noqa: BLE001 - reported to the host as Lambda's init error
        answer({"init_error": _error(e, f"Runtime.ImportModuleError: {type(e).__name__}")})
        return 1
    answer({"ready": True, "pid": os.getpid(), "python": list(sys.version_info[:3])})

    for line in sys.stdin:
        invocation = json.loads(line)
        context = LambdaContext(invocation["request_id"], int(invocation["deadline_ms"]))
        try:
            result = handler(invocation["event"], context)
        except Exception as e:  # noqa: BLE001 - an unhandled error is the invocation's answer, as on Lambda
            traceback.print_exc()
            answer({"error": _error(e)})
            continue
        try:
            answer({"result": result})
        except (TypeError, ValueError) as e:  # what the runtime reports for an answer JSON cannot carry
            answer({"error": _error(e, "Runtime.MarshalError")})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
