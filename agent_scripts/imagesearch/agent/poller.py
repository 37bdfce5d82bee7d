"""The daemon's index poller: re-reads the index pointer on a fixed period until told to stop.

A new version reaches a running daemon this way, with no restart and no message from the
publisher; the `reload` op does the same at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def start_index_poller(reload: Callable[[str], object], every_seconds: float,
                       stop: threading.Event) -> threading.Thread:
    """A daemon thread calling `reload("poll")` every `every_seconds` until `stop` is set."""

    def loop() -> None:
        while not stop.wait(every_seconds):
            reload("poll")

    thread = threading.Thread(target=loop, name="imagesearch-reload", daemon=True)
    thread.start()
    return thread
