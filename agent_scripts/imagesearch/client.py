"""The thin client (`imagesearch-query`): what the SSM document runs on the instance.

Takes --bucket/--key/--k (the search document passes "$SSM_bucket" and friends: interpolationType
ENV_VAR puts the values in the environment, never in shell text), else reads SSM_bucket, SSM_key
and SSM_k, validates them against the contract patterns, asks the warm
daemon over its Unix socket and prints exactly one JSON object. The warm path imports only the
standard library; numpy, MXNet and boto3 are imported only when the daemon is down or silent and
the search runs cold in-process.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace

from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.protocol import Request, decode_answer, encode, search_request

# An answer is well under SSM's 24,000-character output limit; anything far beyond is not our daemon.
MAX_ANSWER_BYTES = 1 << 20
# Variables the env file may provide besides the settings table (boto3 reads these itself).
_EXTRA_ENV = ("AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


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


def load_env_file(path: str, environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Fill in settings the environment lacks from a KEY=VALUE file (parsed here, never by a shell)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, PermissionError):
        return  # the file is optional: without it the settings table's defaults apply
    known = {s.name for s in settings.SETTINGS} | set(_EXTRA_ENV)
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if name in known and name not in environ:
            environ[name] = value


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


@contextmanager
def _stdout_to_stderr():
    """While the engine runs in-process, anything it (or MXNet's C++ side) prints goes to stderr.

    stdout must carry exactly one JSON object, so file descriptor 1 itself is redirected.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def search_cold(request: Request) -> dict:
    """Run the search in this process: open the live index, fetch the image, search. Slow but sure."""
    import tempfile

    from imagesearch.querying import make_s3_client, parse_allowed_buckets, search_s3_image
    from imagesearch.searcher import Searcher

    started = time.perf_counter()
    s3 = make_s3_client(4)
    cache_dir = settings.get("IMAGESEARCH_COLD_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="imagesearch-cold-") as scratch:
        # Under SSM this runs as root: keep its own cache rather than writing into the daemon's.
        searcher = Searcher.open(settings.get("IMAGESEARCH_INDEX"), s3=s3, cache_dir=cache_dir or scratch)
        answer = search_s3_image(searcher, s3, request,
                                 max_bytes=int(settings.get("IMAGESEARCH_MAX_IMAGE_BYTES")),
                                 allowed_buckets=parse_allowed_buckets(settings.get("IMAGESEARCH_ALLOWED_BUCKETS")))
    # The cold total includes opening the index (and loading the model, for a new image).
    answer["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 3)
    return answer


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


def run(argv: list[str] | None = None,
        environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[dict, int]:
    """The answer and exit code for one invocation (0 ok, 1 search failed, 2 bad input)."""
    try:
        # SSM passes exactly the document's three flags; skipping argparse for them saves its
        # import-time cost (gettext) on the warm path.
        args = (_document_arguments(argv) or build_parser().parse_args(argv)) if argv else _NO_FLAGS
        load_env_file(settings.get("IMAGESEARCH_ENV_FILE"))
        request = search_request(
            args.bucket if args.bucket is not None else environ.get("SSM_bucket"),
            args.key if args.key is not None else environ.get("SSM_key"),
            args.k if args.k is not None else environ.get("SSM_k"),
            args.mode,
        )
    except SearchError as e:
        return e.to_json(), 2
    timeout = args.timeout if args.timeout is not None else float(settings.get("IMAGESEARCH_CLIENT_TIMEOUT"))
    socket_path = args.socket or settings.get("IMAGESEARCH_SOCKET")
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
    try:
        with _stdout_to_stderr():
            answer = search_cold(request)
    except SearchError as e:
        answer = e.to_json()
    except Exception as e:  # noqa: BLE001 - the caller must still get one JSON object; cause on stderr
        import traceback

        traceback.print_exc()
        answer = SearchError("internal", f"cold search failed: {type(e).__name__}: {e}").to_json()
    answer["path"] = "cold"
    answer["fallback_reason"] = fallback_reason
    return answer, 0 if answer["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point: print one JSON object, return the exit code."""
    answer, code = run(sys.argv[1:] if argv is None else argv)
    _emit(answer)
    return code


if __name__ == "__main__":
    sys.exit(main())
