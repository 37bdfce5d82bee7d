"""Put images into a running local stack's gallery and watch them become searchable (tests, bench).

Pairs of near duplicates (one pixel apart, so their content hashes differ) are put under
gallery/<album>/; an image counts as searchable when a search for its twin, through the HTTP API,
returns it. The time from its put to that moment is what the bench reports.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class Probe:
    """Images put (gallery key -> its twin's album key) and when each was put and first found."""

    twins: dict[str, str] = field(default_factory=dict)
    put_at: dict[str, float] = field(default_factory=dict)
    found_at: dict[str, float] = field(default_factory=dict)


def near_duplicates(n_pairs: int, seed: int = 5, size: int = 32) -> list[tuple[bytes, bytes]]:
    """`n_pairs` random-texture PNG pairs; the two of a pair differ in one pixel."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_pairs):
        base = (rng.random((size, size, 3)) * 255).astype(np.uint8)
        twin = base.copy()
        twin[0, 0] = 255 - twin[0, 0]
        pairs.append(tuple(_png(a) for a in (base, twin)))
    return pairs


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", optimize=False)
    return out.getvalue()


def put_pairs(s3, bucket: str, album: str, pairs: list[tuple[bytes, bytes]], prefix: str = "ing") -> Probe:
    """Put every pair as <prefix>_<i>_a.png / _b.png under gallery/<album>/; each is the other's twin."""
    probe = Probe()
    for i, (a, b) in enumerate(pairs):
        keys = [f"gallery/{album}/{prefix}_{i:03d}_{s}.png" for s in ("a", "b")]
        for key, data in zip(keys, (a, b), strict=True):
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
            probe.put_at[key] = time.monotonic()
        probe.twins[keys[0]] = "albums/" + keys[1].removeprefix("gallery/")
        probe.twins[keys[1]] = "albums/" + keys[0].removeprefix("gallery/")
    return probe


def search(base_url: str, album_key: str, k: int = 5, timeout: float = 30.0) -> list[str] | None:
    """The gallery keys a search for `album_key` returns; None when the API refuses it (not there yet)."""
    body = json.dumps({"key": album_key, "k": k}).encode()
    request = urllib.request.Request(base_url + "api/search", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the local stack
            answer = json.load(resp)
    except urllib.error.HTTPError:
        return None
    return [r["key"].removeprefix("results/") for r in answer.get("results", [])]


def listed(base_url: str) -> set[str]:
    """Every image the site's album pages list, as album query keys `albums/<album>/<file>`."""
    from publish.smoke import album_keys

    return set(album_keys(base_url, 30.0))


def wait_searchable(base_url: str, probe: Probe, keys: list[str], timeout_s: float) -> set[str]:
    """Poll until every key is returned by a search for its twin (or time runs out); the keys found."""
    deadline = time.monotonic() + timeout_s
    pending = set(keys)
    while pending and time.monotonic() < deadline:
        for key in sorted(pending):
            found = search(base_url, probe.twins[key])
            if found is not None and key in found:
                probe.found_at[key] = time.monotonic()
                pending.discard(key)
        if pending:
            time.sleep(0.5)
    return set(keys) - pending
