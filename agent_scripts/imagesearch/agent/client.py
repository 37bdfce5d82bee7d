"""The thin client (`imagesearch-query`): what the SSM document runs on the instance.

Takes --bucket/--key/--k (the search document passes "$SSM_bucket" and friends: interpolationType
ENV_VAR puts the values in the environment, never in shell text), else reads SSM_bucket, SSM_key
and SSM_k, validates them against the contract patterns, asks the warm
daemon over its Unix socket and prints exactly one JSON object. The warm path imports only the
standard library; numpy, MXNet and boto3 are imported only when the daemon is down or silent and
the search runs cold in-process (imagesearch.agent.cold_path). Missing settings come from the env
file (imagesearch.env_file).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from types import SimpleNamespace

from imagesearch import settings
from imagesearch.agent.protocol import Request, decode_answer, encode, search_request
from imagesearch.env_file import load_env_file
from imagesearch.errors import SearchError
from imagesearch.settings import Settings

# An answer is well under SSM's 24,000-character output limit; anything far beyond is not our daemon.
MAX_ANSWER_BYTES = 1 << 20


class DaemonUnavailable(Exception):
    """The daemon is down, refused the connection, or did not answer in time."""


class DaemonBusy(DaemonUnavailable):
    """The daemon is up but its accept queue or connection slots are full; worth retrying."""


def build_parser():
    """The imagesearch-query arguments; flags override the SSM_* environment variables."""
    import argparse  # imported only for flags other than the search document's own

    class Parser(argparse.ArgumentParser):
        """Argument errors become one bad_request JSON object instead of usage text."""

        def error(self, message: str) -> None:  # type: ignore[override]
            raise SearchError("bad_request", f"bad arguments: {message}")

    p = Parser(prog="imagesearch-query",
               description="Search the image index for the k images most like an image in S3 "
                           "(inputs also from SSM_bucket, SSM_key, SSM_k).")
    p.add_argument("--bucket", help="bucket of the query image (default: $SSM_bucket)")
    p.add_argument("--key", help="key of the query image, albums/<album>/<file> (default: $SSM_key)")
    p.add_argument("--k", help="number of matches, 1..10 (default: $SSM_k)")
    p.add_argument("--mode", help="lsh or exact (default: the index's own)")
    p.add_argument("--socket", help="daemon socket (default: IMAGESEARCH_SOCKET)")
    p.add_argument("--timeout", type=float,
                   help="seconds to wait for the daemon (default: IMAGESEARCH_CLIENT_TIMEOUT)")
    p.add_argument("--cold", action="store_true", help="skip the daemon and search in-process")
    return p


def ask_daemon(socket_path: str, request: Request, *, timeout: float) -> dict:
    """Send one request and read one answer line within `timeout` seconds overall."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            try:
                sock.connect(socket_path)
            except BlockingIOError as e:  # EAGAIN: the listen backlog is full, not a dead daemon
                raise DaemonBusy("daemon accept queue is full") from e
            try:
                sock.sendall(encode(request.to_json()))
            except BrokenPipeError:
                pass  # a busy daemon answers and hangs up without reading; its answer is still there
            buf = bytearray()
            while not buf.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    raise DaemonUnavailable("daemon closed the connection without answering")
                buf += chunk
                if len(buf) > MAX_ANSWER_BYTES:
                    raise DaemonUnavailable("daemon answer exceeds the size limit")
        except TimeoutError as e:
            raise DaemonUnavailable(f"no answer from the daemon within {timeout:.3g} s") from e
        except OSError as e:  # missing socket file, refused, reset: the daemon is not there
            raise DaemonUnavailable(f"daemon not reachable at {socket_path}: {e}") from e
    finally:
        sock.close()
    return decode_answer(bytes(buf))


def ask_warm(socket_path: str, request: Request, *, timeout: float) -> dict:
    """Ask the daemon, retrying while it says it is busy, until `timeout` runs out."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            answer = ask_daemon(socket_path, request, timeout=max(0.05, deadline - time.monotonic()))
            if not answer.get("retry"):
                return answer
        except DaemonBusy:
            pass
        if time.monotonic() + delay >= deadline:
            raise DaemonUnavailable("daemon stayed busy")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


SSM_INPUTS = ("SSM_bucket", "SSM_key", "SSM_k")

_NO_FLAGS = SimpleNamespace(bucket=None, key=None, k=None, mode=None, socket=None, timeout=None, cold=False)
_DOCUMENT_FLAGS = ("--bucket", "--k", "--key")


def _document_arguments(argv: list[str]) -> SimpleNamespace | None:
    """The search document's own call (--bucket B --key K --k N, any order), read without argparse."""
    if len(argv) != 6 or sorted(argv[0::2]) != list(_DOCUMENT_FLAGS):
        return None
    values = dict(zip(argv[0::2], argv[1::2], strict=True))
    return SimpleNamespace(**{**vars(_NO_FLAGS), "bucket": values["--bucket"], "key": values["--key"],
                              "k": values["--k"]})


def _emit(answer: dict) -> None:
    sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _cold(request: Request, config: Settings, fallback_reason: str) -> dict:
    """The cold path's answer; whatever fails, still one JSON object (the cause goes to stderr)."""
    from imagesearch.agent import cold_path as cold_search

    try:
        with cold_search.stdout_to_stderr():
            answer = cold_search.search_cold(request, config)
    except SearchError as e:
        answer = e.to_json()
    except Exception as e:  # noqa: BLE001 - the caller must still get one JSON object; cause on stderr
        import traceback

        traceback.print_exc()
        answer = SearchError("internal", f"cold search failed: {type(e).__name__}: {e}").to_json()
    answer["path"] = "cold"
    answer["fallback_reason"] = fallback_reason
    return answer


def run(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ,
        config: Settings | None = None) -> tuple[dict, int]:
    """The answer and exit code for one invocation (0 ok, 1 search failed, 2 bad input).

    The SSM_* inputs come from `environ`. Without `config` the settings are loaded here, once, from
    the process environment after the env file has filled in what it lacks (boto3 reads AWS_* there).
    """
    try:
        # SSM passes exactly the document's three flags; skipping argparse for them saves its
        # import-time cost (gettext) on the warm path.
        args = (_document_arguments(argv) or build_parser().parse_args(argv)) if argv else _NO_FLAGS
        if config is None:
            load_env_file(settings.get("IMAGESEARCH_ENV_FILE"))
        missing = [name for name in SSM_INPUTS if not argv and name not in environ]
        if missing:
            # SSM always sets every document parameter (the patterns refuse empty ones): an absent
            # one means the document and the agent disagree, a deployment fault and not the user's.
            error = SearchError("misconfigured", "the search command received no " + ", ".join(missing))
            print(f"imagesearch-query: {error.message}", file=sys.stderr)
            return error.to_json(), 1
        request = search_request(
            args.bucket if args.bucket is not None else environ.get("SSM_bucket"),
            args.key if args.key is not None else environ.get("SSM_key"),
            args.k if args.k is not None else environ.get("SSM_k"),
            args.mode,
        )
    except SearchError as e:
        return e.to_json(), 2
    try:
        config = config or settings.load()
    except SearchError as e:  # a malformed setting on the instance: not the caller's input
        return e.to_json(), 1
    timeout = args.timeout if args.timeout is not None else config.client_timeout
    socket_path = args.socket or config.socket
    fallback_reason = "requested with --cold"
    if not args.cold:
        try:
            answer = ask_warm(socket_path, request, timeout=timeout)
            answer["path"] = "warm"
            return answer, 0 if answer["ok"] else 1
        except DaemonUnavailable as e:
            fallback_reason = str(e)
        except SearchError as e:  # the daemon answered garbage: report it, do not guess
            answer = e.to_json()
            answer["path"] = "warm"
            return answer, 1
    answer = _cold(request, config, fallback_reason)
    return answer, 0 if answer["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point: print one JSON object, return the exit code."""
    answer, code = run(sys.argv[1:] if argv is None else argv)
    _emit(answer)
    return code


if __name__ == "__main__":
    sys.exit(main())
