"""Every environment variable the engine and agent read, with its default and a line of help.

One table (as datasette's SETTINGS): code reads values through `get()`, and a test fails when a
setting is missing from docs/settings.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("IMAGESEARCH_INDEX", "/var/lib/imagesearch/index",
            "Index root: a local folder or s3://bucket/prefix holding current.json and version folders."),
    Setting("IMAGESEARCH_CACHE_DIR", "/var/lib/imagesearch/cache",
            "Where index versions and weights fetched from S3 are kept on local disk."),
    Setting("IMAGESEARCH_SOCKET", "/run/imagesearch/daemon.sock",
            "Unix socket the daemon listens on and the thin client connects to."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The value of a setting: the environment's, else the table's default."""
    return os.environ.get(name, _BY_NAME[name].default)
