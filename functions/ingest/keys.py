"""The ingest function's copy of the key patterns of docs/contracts.md ("Keys", "Ingest").

The template's IngestDocument `allowedPattern` and the agent's imagesearch.keys hold the same
patterns; tests/unit/template/test_key_table.py feeds one table to all of them.
"""

from __future__ import annotations

import hashlib
import re

GALLERY_KEY = re.compile(r"^gallery/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
GALLERY_PREFIX = "gallery/"
INGEST_KEY = re.compile(r"^ingest/[0-9a-f]{32}\.json$")


def batch_key(lines: list[str]) -> str:
    """`ingest/<32 hex>.json` named by its content: the same net changes give the same object."""
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]
    return f"ingest/{digest}.json"


def album_of(gallery_key: str) -> str:
    """The album of a gallery key `gallery/<album>/<file>`."""
    return gallery_key.split("/", 2)[1]
