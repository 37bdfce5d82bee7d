"""The daemon's commands: `imagesearch serve` runs it, `imagesearch health|reload` ask it.

`imagesearch.cli` registers them (add_daemon_commands). The command functions take the settings
its `main` loaded once and make the S3 client, so the daemon itself is handed everything it uses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from imagesearch.agent.protocol import Request
from imagesearch.errors import SearchError
from imagesearch.settings import Settings

log = logging.getLogger("imagesearch.agent.daemon")


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """`imagesearch serve`: load, listen, poll for new versions, reload on SIGHUP, stop on SIGTERM/SIGINT."""
    from imagesearch.agent.daemon import Daemon, DaemonConfig
    from imagesearch.agent.querying import make_s3_client
    from imagesearch.agent.server import DaemonServer
    from imagesearch.json_logging import configure_logging
    from imagesearch.s3vectors.opened import index_opener

    configure_logging()
    config = DaemonConfig.from_settings(settings)
    if args.index:
        config = dataclasses.replace(config, index_root=args.index)
    socket_path = args.socket or settings.socket
    # Every version the daemon opens answers with the query-time settings of this process.
    # With IMAGESEARCH_BACKEND=s3vectors the versions are searched in S3 Vectors (docs/scale.md).
    open_index = index_opener(settings)
    daemon = Daemon(config, s3=make_s3_client(config.max_connections), open_index=open_index)
    daemon.reload("startup")
    server = DaemonServer(daemon, socket_path).start()
    stop = threading.Event()
    install_signal_handlers(stop, daemon.reload)
    daemon.start_poller(stop)
    current = daemon.loaded
    log.info("listening", extra={"fields": {"event": "listening", "socket": socket_path,
                                            "version": current.version if current else None,
                                            "index_root": config.index_root}})
    # Woken twice a second: Python runs signal handlers only on the main thread, and a signal the
    # kernel hands to another thread does not interrupt an untimed wait, so a SIGHUP could wait
    # for the next signal that happens to reach this thread.
    while not stop.wait(0.5):
        pass
    log.info("stopping", extra={"fields": {"event": "stopping"}})
    server.close()
    return 0


def install_signal_handlers(stop: threading.Event, reload: Callable[[str], dict]) -> None:
    """SIGTERM/SIGINT stop the daemon; SIGHUP reloads the index (it used to kill the daemon).

    The reload runs on its own thread: a handler runs on the main thread between bytecodes, and
    opening a version may take seconds.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def on_hangup(*_: Any) -> None:
        log.info("reload requested by SIGHUP", extra={"fields": {"event": "sighup"}})
        threading.Thread(target=reload, args=("sighup",), name="imagesearch-sighup", daemon=True).start()

    signal.signal(signal.SIGHUP, on_hangup)


def run_control(args: argparse.Namespace, settings: Settings) -> int:
    """`imagesearch health|reload`: send one op to the daemon and print its answer."""
    from imagesearch.agent.client import DaemonUnavailable, ask_daemon

    try:
        answer = ask_daemon(args.socket or settings.socket, Request(args.daemon_op), timeout=args.timeout)
    except DaemonUnavailable as e:
        answer = SearchError("internal", str(e)).to_json()
    except SearchError as e:
        answer = e.to_json()
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("ok") else 1


def add_daemon_commands(subparsers: Any) -> None:
    """Register `serve`, `health` and `reload` on the imagesearch CLI."""
    serve = subparsers.add_parser("serve", help="run the warm search daemon on a Unix socket")
    serve.add_argument("--index", help="index root (default: IMAGESEARCH_INDEX)")
    serve.add_argument("--socket", help="socket path (default: IMAGESEARCH_SOCKET)")
    serve.set_defaults(func=run_serve)
    for name, text in (("health", "ask the daemon for its index version, uptime and counters"),
                       ("reload", "ask the daemon to follow the index pointer now")):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("--socket", help="socket path (default: IMAGESEARCH_SOCKET)")
        p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer")
        p.set_defaults(func=run_control, daemon_op=name)

