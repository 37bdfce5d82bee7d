"""`python -m devstack`: run the whole product locally; --smoke does one real search and exits."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from devstack.demo_reindex import DEFAULT_BATCH
from devstack.images import DEFAULT_COUNT
from devstack.stack import LocalStack, StackConfig
from publish.uploader import PublishError

SMOKE_K = 5


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    p.add_argument("--images", type=Path,
                   help="folder of albums (one subfolder each); default: a generated sample")
    p.add_argument("--count", type=int, default=DEFAULT_COUNT,
                   help=f"images in the generated sample (default {DEFAULT_COUNT}; up to 30000)")
    p.add_argument("--port", type=int, default=8000, help="port of the page and API (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--work-dir", type=Path, default=Path(".demo"),
                   help="where samples, the index cache and logs are kept (default .demo)")
    p.add_argument("--per-album", type=int, help="images per album offered on the page (default: publish's)")
    p.add_argument("--weights", help="pretrained (fetched and verified once, then cached) or FILE.params; "
                   "default: the seeded demo weights, offline")
    p.add_argument("--featurize-containers", type=int, default=2, metavar="N",
                   help="containers of the featurize function for the page's Re-index (default 2; "
                   "0: the page offers no re-index)")
    p.add_argument("--reindex-batch", type=int, default=DEFAULT_BATCH, metavar="N",
                   help=f"images per featurize batch in a re-index (default {DEFAULT_BATCH})")
    p.add_argument("--smoke", action="store_true", help="start, run one search over HTTP, print it, exit")
    p.add_argument("--ready-file", type=Path, help="write the stack's addresses here as JSON once it is up")
    return p


def smoke(base_url: str, k: int = SMOKE_K, timeout: float = 60.0) -> tuple[bool, dict]:
    """One search over real HTTP on the first image of albums.json; (succeeded, API answer)."""
    with urllib.request.urlopen(base_url + "albums.json", timeout=timeout) as resp:  # noqa: S310 - our URL
        albums = json.load(resp)["albums"]
    key = next(a["cover"] for a in albums if a.get("cover"))  # a gallery key: "more like this" form
    body = json.dumps({"key": key, "k": k}).encode()
    request = urllib.request.Request(base_url + "api/search", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - our URL
            answer = json.load(resp)
    except urllib.error.HTTPError as e:
        return False, json.loads(e.read() or b"{}")
    return len(answer.get("results", [])) == k, answer


def main(argv: list[str] | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM (or, with --smoke, for one search)."""
    args = build_parser().parse_args(argv)
    wrong = [f"{option} must be {rule}, got {value}" for option, value, ok, rule in (
        ("--port", args.port, 0 <= args.port <= 65535, "0..65535"),
        ("--count", args.count, args.count >= 1, "at least 1"),
        ("--featurize-containers", args.featurize_containers, 0 <= args.featurize_containers <= 16, "0..16"),
        ("--reindex-batch", args.reindex_batch, args.reindex_batch >= 1, "at least 1"),
    ) if not ok]
    if wrong:
        print(wrong[0], file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()
        raise KeyboardInterrupt  # unwinds start-up too, so stop() runs wherever we are

    signal.signal(signal.SIGTERM, on_signal)
    config = StackConfig(images=args.images, count=args.count, port=args.port, host=args.host,
                         work_dir=args.work_dir, per_album=args.per_album, progress=sys.stderr.isatty(),
                         weights=args.weights, featurize_containers=args.featurize_containers,
                         reindex_batch=args.reindex_batch)
    stack = LocalStack(config, say=lambda line: print(line, flush=True))
    try:
        stack.start()
        if args.ready_file:
            # Written aside and renamed, so a reader polling for the file never sees half of it.
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(json.dumps(stack.describe()))
            partial.replace(args.ready_file)
        if args.smoke:
            ok, answer = smoke(stack.url)
            print(json.dumps(answer, indent=2), flush=True)
            print("smoke: ok" if ok else "smoke: FAILED", flush=True)
            return 0 if ok else 1
        print(f"\nOpen {stack.url}  (Ctrl-C to stop)", flush=True)
        print(f"Smoke test: make smoke URL={stack.url} S3={stack.endpoint_url}", flush=True)
        stopping.wait()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except PublishError as e:  # e.g. weights that could not be fetched or verified
        print(f"devstack: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            print(f"devstack: port {args.port} is in use; choose another with ARGS=\"--port 0\" "
                  "(any free port) or --port N", file=sys.stderr, flush=True)
            return 1
        raise

    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
