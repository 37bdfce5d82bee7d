"""Key patterns and safe names (docs/contracts.md). Pure stdlib: the thin client imports it."""

from __future__ import annotations

import re

# The patterns of docs/contracts.md, compiled once; keep them byte-for-byte equal to the document.
# A query image: an album image (site bucket), a gallery image ("more like this") or an upload
# (gallery bucket, uploads/<32 lowercase hex>).
QUERY_KEY_RE = re.compile(
    r"^((albums|gallery)/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}|uploads/[0-9a-f]{32})$")
UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
K_RE = re.compile(r"^([1-9]|10)$")
# An image of the collection, and an ingest batch object (the IngestDocument's one parameter).
GALLERY_KEY_RE = re.compile(r"^gallery/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
INGEST_KEY_RE = re.compile(r"^ingest/[0-9a-f]{32}\.json$")

ALBUM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FILE_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_TAG_LEN = 7  # "-" plus 6 hex digits of the original name's sha256


def _tag(name: str) -> str:
    # A rewritten name carries a short digest of the original so two different unsafe names
    # (say "a b.png" and "a_b.png") cannot collapse onto the same key.
    import hashlib  # here, not at the top: the thin client imports this module and never tags a name

    return "-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]


def _clean(part: str) -> str:
    return _UNSAFE.sub("_", part)


def safe_album(name: str) -> str:
    """`name` rewritten into the album character set `[A-Za-z0-9_-]{1,64}`; safe names are kept."""
    if ALBUM_RE.match(name):
        return name
    stem = _clean(name).strip("_") or "album"
    return stem[: 64 - _TAG_LEN] + _tag(name)


def safe_name(name: str, *, kind: str = "file") -> str:
    """`name` rewritten into the safe file (or, with kind="album", album) set; safe names are kept.

    Deterministic and idempotent: safe_name(safe_name(x)) == safe_name(x).
    """
    if kind == "album":
        return safe_album(name)
    if kind != "file":
        raise ValueError(f"kind must be 'file' or 'album', not {kind!r}")
    if FILE_RE.match(name):
        return name
    parts = [_clean(p) for p in name.split(".")]
    parts = [p for p in parts if p.strip("_")]
    stem, suffixes = (parts[0], parts[1:]) if parts else ("file", [])
    if len(suffixes) > 4:
        # Keep the last four suffixes (".tar.gz" style); fold the rest into the stem.
        stem = "_".join([stem, *suffixes[:-4]])
        suffixes = suffixes[-4:]
    stem = stem[: 128 - _TAG_LEN] + _tag(name)
    return ".".join([stem, *(s[:16] for s in suffixes)])


def gallery_key(album: str, filename: str) -> str:
    """The gallery bucket key `gallery/<album>/<file>`, both parts made safe."""
    return f"gallery/{safe_album(album)}/{safe_name(filename)}"


def album_key(album: str, filename: str) -> str:
    """The site bucket key `albums/<album>/<file>` of the browsable copy, both parts made safe."""
    return f"albums/{safe_album(album)}/{safe_name(filename)}"
