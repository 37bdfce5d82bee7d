"""The files an index could not use, kept in its manifest (`skipped_files`) from version to version.

Each entry is {"key", "reason", "message"}: `imagesearch index info` names them and the site's
album listing counts them per album (docs/contracts.md, "Index artifacts"). A build records what
it skipped; an update carries the parent's list forward, dropping every key it looked at again
(now accepted, skipped anew or removed) before adding what it skipped itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Bounds the manifest (and `index info`) whatever a bucket holds; the count is kept beside it.
MAX_RECORDED = 5000
MAX_KEY_CHARS = 1024
MAX_MESSAGE_CHARS = 200


def record(skipped: Iterable[Mapping]) -> list[dict]:
    """The manifest form of a report's skipped entries (a local walk's entries name a path, not a key)."""
    out = []
    for s in skipped:
        key = s.get("key") or s.get("where")
        out.append({"key": str(key)[:MAX_KEY_CHARS], "reason": str(s.get("reason", "unknown")),
                    "message": str(s.get("message", ""))[:MAX_MESSAGE_CHARS]})
    return sorted(out, key=lambda e: e["key"])[:MAX_RECORDED]


def carry(parent: Iterable[Mapping], looked_at: Iterable[str], skipped_now: Iterable[Mapping]) -> list[dict]:
    """The parent version's skipped files minus every key this update looked at, plus its own."""
    seen = set(looked_at)
    kept = [dict(e) for e in parent if e.get("key") not in seen]
    mine = {e["key"]: e for e in record(skipped_now)}
    return sorted([e for e in kept if e["key"] not in mine] + list(mine.values()),
                  key=lambda e: e["key"])[:MAX_RECORDED]
