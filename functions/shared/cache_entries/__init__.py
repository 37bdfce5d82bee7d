"""The result cache's keys and entry format (docs/contracts.md, "Result cache"): one home.

Pure stdlib. It ships in the functions' shared layer (template.yaml) for the search function and
in the agent bundle for the warm-up (imagesearch.ops.cache_warm, which publish and `imagesearch
ingest` run), so every writer and the reader agree byte for byte.

An entry is `cache/<version>/<sha256>.json` in the gallery bucket: the top TOP matches of the
query image whose bytes hash to <sha256>, computed by index version <version>, best first.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

CACHE_PREFIX = "cache"
CURRENT_KEY = "index/current.json"
FORMAT = 1
TOP = 10  # enough for every k of the API (1..10): a top-k is a prefix of the top-10
VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")  # imagesearch.index.artifacts.VERSION_RE
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
BANDS = ("near_duplicate", "similar", "weak")  # a match's score band (imagesearch.index.calibration)
GALLERY_KEY_RE = re.compile(r"^gallery/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
# The object metadata publish writes on albums/ and gallery/ objects (x-amz-meta-sha256).
SHA256_METADATA = "sha256"


class CorruptEntry(ValueError):
    """A cache object that is not a well-formed entry for the key it was read from."""


def version_prefix(version: str) -> str:
    """`cache/<version>/`, the prefix of one index version's entries."""
    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"malformed index version id {version!r}")
    return f"{CACHE_PREFIX}/{version}/"


def entry_key(version: str, sha256: str) -> str:
    """`cache/<version>/<sha256>.json`; both parts checked, so a key never carries path syntax."""
    if not SHA256_RE.fullmatch(sha256):
        raise ValueError(f"malformed sha256 {sha256!r}")
    return f"{version_prefix(version)}{sha256}.json"


def encode_entry(version: str, sha256: str, results: list[dict], index: dict, source: str) -> bytes:
    """The entry's bytes: at most TOP results ({"key", "score", "band"}), the index object, who wrote it.

    `band` is kept when it is one of BANDS (an entry of a version without bands has none).
    """
    entry_key(version, sha256)
    body = {"format": FORMAT, "version": version, "sha256": sha256,
            "results": [{"key": r["key"], "score": r["score"],
                         **({"band": r["band"]} if r.get("band") in BANDS else {})} for r in results[:TOP]],
            "index": index, "source": source}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_entry(raw: bytes, version: str, sha256: str) -> dict:
    """The checked entry {"results", "index", "source"} for this key; CorruptEntry saying why."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise CorruptEntry(f"not JSON ({e.__class__.__name__})") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptEntry("not a cache entry of format 1")
    # An entry copied or written under the wrong key must never answer for another image or version.
    if data.get("version") != version or data.get("sha256") != sha256:
        raise CorruptEntry(f"entry names {str(data.get('version'))[:40]}/{str(data.get('sha256'))[:70]}")
    results = data.get("results")
    if not isinstance(results, list) or len(results) > TOP:
        raise CorruptEntry("results is not a list of at most 10 matches")
    checked = []
    for item in results:
        key = item.get("key") if isinstance(item, dict) else None
        score = item.get("score") if isinstance(item, dict) else None
        if (not isinstance(key, str) or not GALLERY_KEY_RE.fullmatch(key) or isinstance(score, bool)
                or not isinstance(score, int | float) or not math.isfinite(score)):
            raise CorruptEntry(f"malformed match {str(item)[:120]}")
        band = item.get("band")
        if band is not None and band not in BANDS:
            raise CorruptEntry(f"malformed band {str(band)[:40]}")
        checked.append({"key": key, "score": float(score), "band": band})
    scores = [r["score"] for r in checked]
    if scores != sorted(scores, reverse=True):
        raise CorruptEntry("matches are not best first")
    index = data.get("index")
    if not isinstance(index, dict) or index.get("version") != version:
        raise CorruptEntry("index object missing or of another version")
    return {"results": checked, "index": index, "source": str(data.get("source", ""))}


def parse_current(raw: bytes) -> str:
    """The version id in `index/current.json`; ValueError when it is not a version pointer."""
    data: Any = json.loads(raw)
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise ValueError(f"{CURRENT_KEY} does not name a version: {raw[:80]!r}")
    return version
