"""The SSM stand-in on a loopback endpoint, so a function's own boto3 SSM client reaches it unmodified.

boto3's SSM client speaks AWS's JSON 1.1 protocol: `POST /` with `X-Amz-Target: AmazonSSM.<Operation>`
and a JSON body of the operation's input; the answer is the output as JSON (timestamps as epoch
seconds), an error is HTTP 400 with `{"__type": <code>, "message": ...}`. A function is pointed at
it through `AWS_ENDPOINT_URL_SSM` (boto3's per-service endpoint variable, which wins over
`AWS_ENDPOINT_URL`). The runs themselves are devstack.ssm_client's (`LocalSSM`): the template's
document executed on this machine.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.exceptions import ClientError

from devstack.ssm_client import LocalSSM

log = logging.getLogger("devstack.ssm")

TARGET_PREFIX = "AmazonSSM."
# Operation name -> LocalSSM method: what the functions call.
OPERATIONS = {"SendCommand": "send_command", "GetCommandInvocation": "get_command_invocation",
              "CancelCommand": "cancel_command"}
# Parameter Store operations go to `parameters` (moto's SSM locally): the fresh token's read.
PARAMETER_OPERATIONS = {"GetParameter": "get_parameter"}
MAX_BODY_BYTES = 1024 * 1024


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocols carry timestamps as epoch seconds
    raise TypeError(f"{type(value).__name__} is not JSON")


class _Handler(BaseHTTPRequestHandler):
    server: SsmEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        target = self.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return self._error("ValidationException", "request too large")
        raw = self.rfile.read(length) if length else b"{}"
        method = OPERATIONS.get(operation)
        service = self.server.ssm
        if method is None and self.server.parameters is not None:
            method, service = PARAMETER_OPERATIONS.get(operation), self.server.parameters
        if method is None:
            return self._error("UnknownOperationException", f"{target or 'no X-Amz-Target'} is not served")
        try:
            params = json.loads(raw or b"{}")
            if not isinstance(params, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as e:
            return self._error("SerializationException", str(e))
        try:
            output = getattr(service, method)(**params)
        except ClientError as e:
            error = e.response.get("Error", {})
            return self._error(error.get("Code", "InternalServerError"), error.get("Message", ""))
        except TypeError as e:  # a parameter the operation does not take
            return self._error("ValidationException", str(e))
        output.pop("ResponseMetadata", None)
        self._send(HTTPStatus.OK, output)

    def _error(self, code: str, message: str) -> None:
        self._send(HTTPStatus.BAD_REQUEST, {"__type": code, "message": message})

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload, default=_json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", "local")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SsmEndpoint(ThreadingHTTPServer):
    """`LocalSSM` served on 127.0.0.1 (port 0: a free one); start() returns its URL.

    With `parameters`, Parameter Store reads are answered by that client (moto's SSM here).
    """

    daemon_threads = True

    def __init__(self, ssm: LocalSSM, host: str = "127.0.0.1", port: int = 0, *,
                 parameters: Any = None) -> None:
        super().__init__((host, port), _Handler)
        self.ssm = ssm
        self.parameters = parameters  # an SSM client whose Parameter Store answers GetParameter
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint URL for AWS_ENDPOINT_URL_SSM."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Serve in a background thread; the URL."""
        self._thread = threading.Thread(target=self.serve_forever, name="ssm-endpoint", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, close the socket and the runner (its running commands are cancelled)."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()
        self.ssm.close()
