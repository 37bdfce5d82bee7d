"""Groups of near-duplicates across the whole gallery, and which image of each group to keep.

Every distinct image's top 10 comes from the engine's batch search (imagesearch.index.batch_search)
in the index's default mode: the daemon's own answers. At publish and after an ingest batch the
cache warm-up's search is reused (GroupCollector.observe), not run twice. A neighbour at or
above the index's near_duplicate band (imagesearch.index.calibration) is an edge, and so are
identical bytes under two keys (the search excludes them from each other's matches). Edges are
joined transitively (union-find): copies of copies end in one group even when one pair alone
scores below the band. The output is deterministic: images sorted by key within a group, groups
by their first key; the suggested keep is the image with the most pixels, then the largest
file, then the first key.

`duplicates_document` is the `duplicates.json` publish and ingest write to the site bucket root
(docs/contracts.md, "duplicates.json").
"""

from __future__ import annotations

import io
import json
import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from imagesearch.errors import SearchError

DUPLICATES_JSON = "duplicates.json"
NEIGHBOURS = 10  # the top-k each image contributes: the cache warm-up's top 10
FORMAT = 1


class UnionFind:
    """Disjoint sets of hashable items (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[Any, Any] = {}
        self._size: dict[Any, int] = {}

    def find(self, x: Any) -> Any:
        """The representative of x's set (x joins as a singleton when new)."""
        parent = self._parent
        if x not in parent:
            parent[x], self._size[x] = x, 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        """Join the sets of a and b."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]

    def sets(self) -> list[list[Any]]:
        """Every set of two or more items, each sorted, sorted by first item."""
        members: dict[Any, list[Any]] = {}
        for x in self._parent:
            members.setdefault(self.find(x), []).append(x)
        return sorted((sorted(m) for m in members.values() if len(m) > 1), key=lambda m: m[0])


class GroupCollector:
    """Joins neighbour lists into groups as they come, keeping only the edges at or above threshold.

    Fed by `imagesearch duplicates` or, at publish and ingest, by the cache warm-up's own top 10
    (imagesearch.ops.cache_warm.warm_version's `observe`), so the search runs once for both.
    """

    def __init__(self, index: Any, threshold: float) -> None:
        self._rows_by_hash: dict[str, list[int]] = index._rows_by_hash
        self._key = index.key
        self.version = getattr(index, "version", None)
        self.threshold = threshold
        self._uf = UnionFind()
        self.images = 0

    def add(self, keys: list[str], matches: list[dict]) -> None:
        """One image (the keys of its identical copies) and its matches [{"key", "score"}]."""
        self.images += 1
        first = keys[0]
        for other in keys[1:]:
            self._uf.union(first, other)
        for match in matches:
            if match["score"] >= self.threshold:
                self._uf.union(first, match["key"])

    def observe(self, digest: str, matches: list[dict]) -> None:
        """add() for a content hash of the index (the warm-up's callback)."""
        self.add([self._key(int(r)) for r in self._rows_by_hash[digest]], matches)

    def groups(self) -> list[list[str]]:
        """The groups so far: sorted keys, sorted by first key."""
        return self._uf.sets()


def group_keys(neighbours: Iterable[tuple[list[str], list[dict]]], threshold: float) -> list[list[str]]:
    """Transitive groups from (keys of one image's identical copies, its matches [{"key", "score"}]).

    A match at or above `threshold` joins the image's group; so do identical copies.
    """
    collector = GroupCollector(_NoIndex(), threshold)
    for keys, matches in neighbours:
        collector.add(keys, matches)
    return collector.groups()


class _NoIndex:
    _rows_by_hash: dict = {}

    @staticmethod
    def key(row: int) -> str:
        raise KeyError(row)


def collect_groups(index: Any, *, batch: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> GroupCollector:
    """Every image's top 10 by the engine's batch search, in the index's default mode (the daemon's
    and the result cache's answers), joined into groups."""
    from imagesearch.index.batch_search import DEFAULT_BATCH, top_matches

    collector = GroupCollector(index, index.manifest["bands"]["near_duplicate"])
    for digest, matches in top_matches(index, k=NEIGHBOURS, batch=batch or DEFAULT_BATCH, progress=progress):
        collector.observe(digest, matches)
    return collector


@dataclass(frozen=True)
class ImageFacts:
    """What the page and the keep rule need of one image; None when it could not be read."""

    width: int | None
    height: int | None
    bytes: int | None

    @property
    def pixels(self) -> int | None:
        """width x height."""
        return self.width * self.height if self.width and self.height else None


UNKNOWN = ImageFacts(None, None, None)


def image_facts(data: bytes) -> ImageFacts:
    """Size in pixels (from the header only: nothing decoded) and bytes of one image."""
    from image_prep import formats
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=formats()) as im:  # HEIF registered
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return ImageFacts(None, None, len(data))
    return ImageFacts(int(width), int(height), len(data))


def facts_from_folder(images_dir: str) -> Callable[[str], ImageFacts]:
    """Facts of gallery/<album>/<file> read from <images_dir>/<album>/<file>."""
    def facts(key: str) -> ImageFacts:
        path = os.path.join(images_dir, *key.removeprefix("gallery/").split("/"))
        try:
            with open(path, "rb") as f:
                return image_facts(f.read())
        except OSError:
            return UNKNOWN

    return facts


def facts_from_bucket(s3: Any, bucket: str, max_bytes: int) -> Callable[[str], ImageFacts]:
    """Facts of gallery/<album>/<file> read from the gallery bucket (objects over max_bytes: size only)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from imagesearch.s3io import read_s3_capped

    def facts(key: str) -> ImageFacts:
        try:
            return image_facts(read_s3_capped(s3, bucket, key, max_bytes))
        except SearchError:
            return UNKNOWN
        except (ClientError, BotoCoreError) as e:
            raise SearchError("internal", f"cannot read s3://{bucket}/{key}: {e}") from e

    return facts


def keep_of(members: list[dict]) -> str:
    """The suggested keep: most pixels, then largest file, then the first key."""
    best = min(members, key=lambda m: (-(m["pixels"] or -1), -(m["bytes"] or -1), m["key"]))
    return best["key"]


def describe_groups(groups: list[list[str]], facts: Callable[[str], ImageFacts]) -> list[dict]:
    """Each group as {"images", "keep", "members"}; a member is {"key", "album", "width", "height",
    "pixels", "bytes"}."""
    out = []
    for keys in groups:
        members = []
        for key in keys:
            f = facts(key)
            album = posixpath.dirname(key.removeprefix("gallery/"))
            members.append({"key": key, "album": album, "width": f.width, "height": f.height,
                            "pixels": f.pixels, "bytes": f.bytes})
        out.append({"images": list(keys), "keep": keep_of(members), "members": members})
    return out


def duplicates_document(version: str, bands: dict, groups: list[dict]) -> dict:
    """duplicates.json (docs/contracts.md): the version, the threshold, the groups."""
    return {"format": FORMAT, "version": version, "threshold": bands["near_duplicate"],
            "images": sum(len(g["images"]) for g in groups), "groups": groups}


def collector_for(index: Any) -> GroupCollector | None:
    """A collector for the warm-up to feed (None for an index without bands: nothing to group)."""
    bands = index.manifest.get("bands")
    return GroupCollector(index, bands["near_duplicate"]) if bands else None


def require_bands(index: Any) -> dict:
    """The index's bands; index_unavailable for a version built before them."""
    bands = index.manifest.get("bands")
    if not bands:
        raise SearchError("index_unavailable", f"index version {index.version} has no score bands; "
                          "rebuild it (imagesearch index build) to measure them")
    return bands


def find_duplicates(index: Any, facts: Callable[[str], ImageFacts] | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    collected: GroupCollector | None = None) -> dict:
    """duplicates.json of an open index (facts: where pixels and bytes are read; None: unknown).

    `collected`: groups the cache warm-up already joined from its own top 10 of every image;
    without it the batch search runs here.
    """
    bands = require_bands(index)
    if collected is None or collected.version != index.version:
        collected = collect_groups(index, progress=progress)
    return duplicates_document(index.version, bands,
                               describe_groups(collected.groups(), facts or (lambda _k: UNKNOWN)))


def encode_document(doc: dict) -> bytes:
    """The bytes written to the site bucket."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def write_duplicates_json(s3: Any, site_bucket: str, doc: dict) -> int:
    """Put duplicates.json at the site bucket root (no-cache: it changes with each version); its size."""
    body = encode_document(doc)
    s3.put_object(Bucket=site_bucket, Key=DUPLICATES_JSON, Body=body, ContentType="application/json",
                  CacheControl="no-cache")
    return len(body)


def table(doc: dict) -> str:
    """The text table `imagesearch duplicates` prints."""
    lines = [f"index {doc['version']}  threshold {doc['threshold']}  "
             f"{len(doc['groups'])} groups, {doc['images']} images"]
    for n, group in enumerate(doc["groups"], 1):
        lines.append(f"group {n}")
        for m in group["members"]:
            mark = "keep" if m["key"] == group["keep"] else ""
            size = f"{m['width']}x{m['height']}" if m["pixels"] else "?"
            lines.append(f"  {mark:4}  {m['key']:60}  {m['album']:20}  {size:>11}  "
                         f"{m['bytes'] if m['bytes'] is not None else '?':>10}")
    return "\n".join(lines)


# Up to this many images a batch also rewrites duplicates.json. Up to WARM_ALL_MAX it reuses the
# warm-up's search; above, it searches every image against every other itself, which grows with
# the square of the count (about a minute at 10,000 on 2 shared cores, 8 minutes at 30,000:
# docs/benchmarks.md), so above this publish writes it.
DUPLICATES_MAX = 10_000


def write_duplicates(version: str, *, s3: Any, gallery_bucket: str, site_bucket: str, index_root: str,
                     cache_dir: str, max_bytes: int, collected: list | None = None) -> dict:
    """Rewrite the site's duplicates.json for the new version (docs/contracts.md); never fails the batch.

    `collected`: the groups the warm-up joined (warm_result_cache); else the search runs here.
    """
    if not site_bucket:
        return {"ok": False, "written": False, "reason": "no SITE_BUCKET in the instance's settings"}
    from botocore.exceptions import BotoCoreError, ClientError

    from imagesearch.index.opened import OpenIndex

    try:
        index = OpenIndex.open(index_root, s3=s3, cache_dir=cache_dir, version=version)
        if index.count > DUPLICATES_MAX:
            return {"ok": True, "written": False,
                    "reason": f"{index.count} images, over {DUPLICATES_MAX}: publish writes duplicates.json"}
        doc = find_duplicates(index, facts_from_bucket(s3, gallery_bucket, max_bytes),
                              collected=collected[-1] if collected else None)
        size = write_duplicates_json(s3, site_bucket, doc)
    except SearchError as e:
        return {"ok": False, "written": False, "reason": f"{e.code}: {e.message}"[:300]}
    except (ClientError, BotoCoreError) as e:
        return {"ok": False, "written": False, "reason": f"cannot write duplicates.json: {e}"[:300]}
    return {"ok": True, "written": True, "groups": len(doc["groups"]), "bytes": size}
